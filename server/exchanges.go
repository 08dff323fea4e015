package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/server/exchange"
)

// exchangeService implements pb.ExchangeServiceServer over the Scheduler
// of Options.Exchanges. The guard lets admins add and delete exchanges
// and curators do the rest; a caller limited to banks sees and acts on
// the exchanges of its banks only (others are NotFound, as absent ones).
// No response carries a credential: Exchange.credentials says where the
// secret is, never what it is.
type exchangeService struct {
	pb.UnimplementedExchangeServiceServer
	s *Server
}

// Limits of AddExchangeRequest, as stated in exchange.proto.
const (
	minExchangeInterval = time.Second
	maxCheckpointShown  = 4096
)

// scheduler returns the server's scheduler, or an error if it has none.
func (x *exchangeService) scheduler() (*Scheduler, error) {
	if x.s.opts.Exchanges == nil {
		return nil, mediamatch.Errorf(mediamatch.NotFound, "", "this server fetches no exchanges (no scheduler)")
	}
	return x.s.opts.Exchanges, nil
}

func (x *exchangeService) AddExchange(ctx context.Context, req *pb.AddExchangeRequest) (*pb.AddExchangeResponse, error) {
	s := x.s
	sch, err := x.scheduler()
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	var vs violations
	checkBankName(&vs, "AddExchangeRequest.name", req.GetName())
	checkBankName(&vs, "AddExchangeRequest.bank", req.GetBank())
	kinds := make([]string, 0, 5)
	for _, k := range exchange.Kinds() {
		kinds = append(kinds, string(k))
	}
	if k := req.GetKind(); !strings.Contains(","+strings.Join(kinds, ",")+",", ","+k+",") || k == "" {
		vs.add("AddExchangeRequest.kind", "%s, want one of %s", quote(k), strings.Join(kinds, ", "))
	}
	var interval time.Duration
	if d := req.GetInterval(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < minExchangeInterval {
			vs.add("AddExchangeRequest.interval", "%v, want at least %v", d.AsDuration(), minExchangeInterval)
		}
		interval = d.AsDuration()
	}
	if n := len(req.GetCredentialsSecret()); n > exchange.MaxCredentialsBytes {
		vs.add("AddExchangeRequest.credentials_secret", "%d bytes, want at most %d", n, exchange.MaxCredentialsBytes)
	}
	if req.GetCredentialsSecret() != "" && req.GetCredentialsEnv() != "" {
		vs.add("AddExchangeRequest.credentials_env", "set with credentials_secret, want at most one of them")
	}
	if env := req.GetCredentialsEnv(); env != "" && !validEnvName(env) {
		vs.add("AddExchangeRequest.credentials_env", "%s, want an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", quote(env))
	}
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "AddExchangeRequest.bank", req.GetBank()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	e := index.Exchange{Name: req.GetName(), Bank: req.GetBank(), Kind: req.GetKind(), BaseURL: req.GetBaseUrl(),
		Interval: interval, Settings: req.GetSettings(), Credentials: index.CredentialsRef{Env: req.GetCredentialsEnv()}}
	out, err := sch.Add(ctx, e, req.GetCredentialsSecret())
	if errors.Is(err, exchange.ErrConfig) {
		// exchange's errors never quote a credential.
		err = invalid("AddExchangeRequest", "%v", err)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.AddExchangeResponse{Exchange: x.toProto(out, false)}, nil
}

func validEnvName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return len(s) > 0 && len(s) <= 128
}

func (x *exchangeService) ListExchanges(ctx context.Context, _ *pb.ListExchangesRequest) (*pb.ListExchangesResponse, error) {
	sch, err := x.scheduler()
	if err != nil {
		return nil, x.s.toStatus(ctx, err)
	}
	es, err := sch.st.ListExchanges(ctx)
	if err != nil {
		return nil, x.s.toStatus(ctx, err)
	}
	resp := &pb.ListExchangesResponse{}
	c := callerOf(ctx)
	for _, e := range es {
		if c == nil || c.canUse(e.Bank) {
			resp.Exchanges = append(resp.Exchanges, x.toProto(e, false))
		}
	}
	return resp, nil
}

// get returns the exchange name if the caller may see it (else NotFound,
// as for an exchange that does not exist).
func (x *exchangeService) get(ctx context.Context, field, name string) (*Scheduler, index.Exchange, error) {
	var vs violations
	checkBankName(&vs, field, name)
	if err := vs.err(); err != nil {
		return nil, index.Exchange{}, err
	}
	sch, err := x.scheduler()
	if err != nil {
		return nil, index.Exchange{}, err
	}
	e, err := sch.st.GetExchange(ctx, name)
	if err != nil {
		return nil, index.Exchange{}, err
	}
	if c := callerOf(ctx); c != nil && !c.canUse(e.Bank) {
		return nil, index.Exchange{}, mediamatch.Errorf(mediamatch.NotFound, "", "exchange %q", name)
	}
	return sch, e, nil
}

func (x *exchangeService) GetExchangeStatus(ctx context.Context, req *pb.GetExchangeStatusRequest) (*pb.GetExchangeStatusResponse, error) {
	_, e, err := x.get(ctx, "GetExchangeStatusRequest.name", req.GetName())
	if err != nil {
		return nil, x.s.toStatus(ctx, err)
	}
	return &pb.GetExchangeStatusResponse{Exchange: x.toProto(e, true)}, nil
}

func (x *exchangeService) FetchExchange(ctx context.Context, req *pb.FetchExchangeRequest) (*pb.FetchExchangeResponse, error) {
	sch, _, err := x.get(ctx, "FetchExchangeRequest.name", req.GetName())
	if err != nil {
		return nil, x.s.toStatus(ctx, err)
	}
	sum, err := sch.Fetch(ctx, req.GetName())
	if err != nil {
		return nil, x.s.toStatus(ctx, err)
	}
	e, err := sch.st.GetExchange(ctx, req.GetName())
	if err != nil {
		return nil, x.s.toStatus(ctx, err)
	}
	resp := &pb.FetchExchangeResponse{Pages: int32(sum.Pages), Counts: countsToProto(sum.Stats), Rejected: sum.Rejected,
		Exchange: x.toProto(e, true)}
	if sum.Err != nil {
		resp.Error = sum.Err.Error()
	}
	return resp, nil
}

// setPaused pauses or resumes; resuming also clears an authentication
// failure, so that the next scheduled run tries the credentials again.
func (x *exchangeService) setPaused(ctx context.Context, field, name string, paused bool) (*pb.Exchange, error) {
	sch, _, err := x.get(ctx, field, name)
	if err != nil {
		return nil, err
	}
	e, err := sch.st.UpdateExchange(ctx, name, func(e *index.Exchange) error {
		e.Paused = paused
		if !paused {
			e.Status.AuthFailed = false
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return x.toProto(e, false), nil
}

func (x *exchangeService) PauseExchange(ctx context.Context, req *pb.PauseExchangeRequest) (*pb.PauseExchangeResponse, error) {
	e, err := x.setPaused(ctx, "PauseExchangeRequest.name", req.GetName(), true)
	if err != nil {
		return nil, x.s.toStatus(ctx, err)
	}
	return &pb.PauseExchangeResponse{Exchange: e}, nil
}

func (x *exchangeService) ResumeExchange(ctx context.Context, req *pb.ResumeExchangeRequest) (*pb.ResumeExchangeResponse, error) {
	e, err := x.setPaused(ctx, "ResumeExchangeRequest.name", req.GetName(), false)
	if err != nil {
		return nil, x.s.toStatus(ctx, err)
	}
	return &pb.ResumeExchangeResponse{Exchange: e}, nil
}

func (x *exchangeService) DeleteExchange(ctx context.Context, req *pb.DeleteExchangeRequest) (*pb.DeleteExchangeResponse, error) {
	sch, _, err := x.get(ctx, "DeleteExchangeRequest.name", req.GetName())
	if err != nil {
		return nil, x.s.toStatus(ctx, err)
	}
	if err := sch.Delete(ctx, req.GetName()); err != nil {
		return nil, x.s.toStatus(ctx, err)
	}
	return &pb.DeleteExchangeResponse{}, nil
}

// toProto converts e; withCheckpoint adds its checkpoint, cut to
// maxCheckpointShown bytes.
func (x *exchangeService) toProto(e index.Exchange, withCheckpoint bool) *pb.Exchange {
	creds := "none"
	switch {
	case e.Credentials.File != "":
		creds = "file"
	case e.Credentials.Env != "":
		creds = "env:" + e.Credentials.Env
	}
	iv := e.Interval
	if iv == 0 && x.s.opts.Exchanges != nil {
		iv = x.s.opts.Exchanges.opts.Interval
	}
	st := e.Status
	ps := &pb.ExchangeStatus{LastError: st.LastError, AuthFailed: st.AuthFailed, Total: countsToProto(st.Total),
		LastRun: countsToProto(st.LastRun), LastRunPages: int32(st.LastRunPages), LastRunRejected: st.Rejected}
	if !st.LastAttempt.IsZero() {
		ps.LastAttemptTime = timestamppb.New(st.LastAttempt)
	}
	if !st.LastSuccess.IsZero() {
		ps.LastSuccessTime = timestamppb.New(st.LastSuccess)
		ps.Lag = durationpb.New(x.s.opts.Now().Sub(st.LastSuccess))
	}
	if withCheckpoint {
		cp := e.Checkpoint
		if len(cp) > maxCheckpointShown {
			cp = fmt.Sprintf("%s... (%d bytes)", clipUTF8(cp, maxCheckpointShown), len(cp))
		}
		ps.Checkpoint = cp
	}
	if x.s.opts.Exchanges != nil {
		ps.Running = x.s.opts.Exchanges.Running(e.Name)
	}
	return &pb.Exchange{Name: e.Name, Bank: e.Bank, Kind: e.Kind, BaseUrl: exchange.RedactURL(e.BaseURL), Interval: durationpb.New(iv),
		Settings: e.Settings, Credentials: creds, Paused: e.Paused, CreateTime: timestamppb.New(e.Created), Status: ps}
}

func countsToProto(s mediamatch.ImportStats) *pb.ExchangeCounts {
	return &pb.ExchangeCounts{Added: s.Added, Updated: s.Updated, Deleted: s.Deleted, Unchanged: s.Unchanged}
}
