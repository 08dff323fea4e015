package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
)

// exchangeCanary is the credential of the fake exchange: no response, log
// line or audit entry may hold it.
const exchangeCanary = "CANARY-srv-7a9e0c-secret"

// newListExchange is a list file at a URL that wants the canary as a
// bearer token, or refuses it with 401 while refuse is set.
func newListExchange(t *testing.T, n int, refuse *atomic.Bool) *httptest.Server {
	var body strings.Builder
	for i := range n {
		fmt.Fprintf(&body, `{"id":"e-%03d","media":{"kind":"image","keyframes":[{"index":0,"signals":[{"type":"pdq","hash":"%064x","quality":90}]}]}}`+"\n",
			i, 0x1234567+i*7919)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() || r.Header.Get("Authorization") != "Bearer "+exchangeCanary {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "bad token %q", r.Header.Get("Authorization")) // a careless server echoes it
			return
		}
		w.Write([]byte(body.String()))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestExchangeRPCs drives ExchangeService through the guard with tokens
// of each role: admins add and delete, curators fetch, pause, resume and
// read status, matchers nothing, and a curator limited to other banks
// does not see the exchange. No response, log line or audit entry holds
// the credential, even when the exchange echoes it.
func TestExchangeRPCs(t *testing.T) {
	credDir := filepath.Join(t.TempDir(), "exchanges")
	e := newAuthEnv(t, authConfig{exchanges: func(ix *index.Index) *Scheduler {
		return NewScheduler(ix, SchedulerOptions{CredentialsDir: credDir})
	}})
	var refuse atomic.Bool
	list := newListExchange(t, 30, &refuse)
	if _, err := e.ix.CreateBank(t.Context(), mediamatch.Bank{Name: "partner"}); err != nil {
		t.Fatal(err)
	}
	admin := e.token(t, "admin", mediamatch.RoleAdmin)
	curator := e.token(t, "curator", mediamatch.RoleCurator)
	matcher := e.token(t, "matcher", mediamatch.RoleMatcher)
	other := e.token(t, "other", mediamatch.RoleCurator, "other")
	c := pb.NewExchangeServiceClient(e.conn(t, nil))
	var responses []proto.Message
	call := func(secret string, fn func(ctx context.Context) (proto.Message, error)) (proto.Message, error) {
		resp, err := fn(as(t.Context(), secret))
		if err == nil {
			responses = append(responses, resp)
		}
		return resp, err
	}
	add := &pb.AddExchangeRequest{Name: "partner", Bank: "partner", Kind: "url", BaseUrl: list.URL,
		Interval: durationpb.New(3600e9), CredentialsSecret: `{"token":"` + exchangeCanary + `"}`}
	addFn := func(ctx context.Context) (proto.Message, error) { return c.AddExchange(ctx, add) }

	for _, who := range []string{matcher, curator} {
		_, err := call(who, addFn)
		wantStatus(t, err, codes.PermissionDenied)
	}
	_, err := call(matcher, func(ctx context.Context) (proto.Message, error) {
		return c.GetExchangeStatus(ctx, &pb.GetExchangeStatusRequest{Name: "partner"})
	})
	wantStatus(t, err, codes.PermissionDenied)
	bad := proto.Clone(add).(*pb.AddExchangeRequest)
	bad.CredentialsSecret = ""
	bad.Kind = "telepathy"
	_, err = call(admin, func(ctx context.Context) (proto.Message, error) { return c.AddExchange(ctx, bad) })
	wantStatus(t, err, codes.InvalidArgument, "telepathy")

	resp, err := call(admin, addFn)
	if err != nil {
		t.Fatalf("AddExchange as admin: %v", err)
	}
	if got := resp.(*pb.AddExchangeResponse).GetExchange().GetCredentials(); got != "file" {
		t.Errorf("credentials %q, want file", got)
	}
	file := filepath.Join(credDir, "partner.credentials")
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v, %v; want mode 0600", fi, err)
	}
	_, err = call(admin, addFn)
	wantStatus(t, err, codes.AlreadyExists)
	// A refused add of the name taken leaves its credentials as they were.
	again := proto.Clone(add).(*pb.AddExchangeRequest)
	again.CredentialsSecret = `{"token":"another"}`
	_, err = call(admin, func(ctx context.Context) (proto.Message, error) { return c.AddExchange(ctx, again) })
	wantStatus(t, err, codes.AlreadyExists)
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), exchangeCanary) {
		t.Errorf("credentials file after a refused add: %q, %v; want the first secret", b, err)
	}

	resp, err = call(curator, func(ctx context.Context) (proto.Message, error) {
		return c.FetchExchange(ctx, &pb.FetchExchangeRequest{Name: "partner"})
	})
	if err != nil {
		t.Fatalf("FetchExchange as curator: %v", err)
	}
	if f := resp.(*pb.FetchExchangeResponse); f.GetCounts().GetAdded() != 30 || f.GetError() != "" {
		t.Errorf("fetch = %v, want 30 added", f)
	}
	refuse.Store(true)
	resp, err = call(curator, func(ctx context.Context) (proto.Message, error) {
		return c.FetchExchange(ctx, &pb.FetchExchangeRequest{Name: "partner"})
	})
	if err != nil || !strings.Contains(resp.(*pb.FetchExchangeResponse).GetError(), "credentials refused") {
		t.Errorf("fetch refused by the exchange = %v, %v; want the refusal in the summary", resp, err)
	}
	resp, err = call(curator, func(ctx context.Context) (proto.Message, error) {
		return c.GetExchangeStatus(ctx, &pb.GetExchangeStatusRequest{Name: "partner"})
	})
	if err != nil {
		t.Fatal(err)
	}
	st := resp.(*pb.GetExchangeStatusResponse).GetExchange().GetStatus()
	if !st.GetAuthFailed() || st.GetTotal().GetAdded() != 30 || !strings.Contains(st.GetCheckpoint(), `"kind":"url"`) {
		t.Errorf("status = %v, want auth failed, 30 added, a url checkpoint", st)
	}
	for _, fn := range []func(ctx context.Context) (proto.Message, error){
		func(ctx context.Context) (proto.Message, error) {
			return c.PauseExchange(ctx, &pb.PauseExchangeRequest{Name: "partner"})
		},
		func(ctx context.Context) (proto.Message, error) {
			return c.ResumeExchange(ctx, &pb.ResumeExchangeRequest{Name: "partner"})
		},
		func(ctx context.Context) (proto.Message, error) {
			return c.ListExchanges(ctx, &pb.ListExchangesRequest{})
		},
	} {
		if _, err := call(curator, fn); err != nil {
			t.Errorf("as curator: %v", err)
		}
	}
	// A presigned list URL is a credential: shown redacted.
	signed := &pb.AddExchangeRequest{Name: "signed", Bank: "partner", Kind: "url",
		BaseUrl: list.URL + "/list.txt?X-Amz-Signature=" + exchangeCanary + "&x=1"}
	if _, err := call(admin, func(ctx context.Context) (proto.Message, error) { return c.AddExchange(ctx, signed) }); err != nil {
		t.Fatalf("AddExchange of a presigned URL: %v", err)
	}
	resp, err = call(curator, func(ctx context.Context) (proto.Message, error) {
		return c.GetExchangeStatus(ctx, &pb.GetExchangeStatusRequest{Name: "signed"})
	})
	if err != nil || !strings.Contains(resp.(*pb.GetExchangeStatusResponse).GetExchange().GetBaseUrl(), "X-Amz-Signature=REDACTED") {
		t.Errorf("status of a presigned URL = %v, %v; want its signature redacted", resp, err)
	}
	// Limited to other banks: the exchange is not there.
	_, err = call(other, func(ctx context.Context) (proto.Message, error) {
		return c.GetExchangeStatus(ctx, &pb.GetExchangeStatusRequest{Name: "partner"})
	})
	wantStatus(t, err, codes.NotFound)
	resp, err = call(other, func(ctx context.Context) (proto.Message, error) {
		return c.ListExchanges(ctx, &pb.ListExchangesRequest{})
	})
	if err != nil || len(resp.(*pb.ListExchangesResponse).GetExchanges()) != 0 {
		t.Errorf("ListExchanges limited to other banks = %v, %v; want none", resp, err)
	}

	_, err = call(curator, func(ctx context.Context) (proto.Message, error) {
		return c.DeleteExchange(ctx, &pb.DeleteExchangeRequest{Name: "partner"})
	})
	wantStatus(t, err, codes.PermissionDenied)
	if _, err := call(admin, func(ctx context.Context) (proto.Message, error) {
		return c.DeleteExchange(ctx, &pb.DeleteExchangeRequest{Name: "partner"})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("credentials file after delete: %v, want gone", err)
	}

	entries, _, err := e.ix.ListAuditWhere(t.Context(), 1000, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var audit strings.Builder
	adds := 0
	for _, a := range entries {
		fmt.Fprintf(&audit, "%+v\n", a)
		if strings.Contains(a.Action, "AddExchange") {
			adds++
		}
	}
	if adds < 3 {
		t.Errorf("%d AddExchange audit entries, want every call (refused ones too):\n%s", adds, audit.String())
	}
	var out strings.Builder
	for _, m := range responses {
		out.WriteString(protojson.Format(m))
	}
	for what, text := range map[string]string{"an RPC response": out.String(), "the log": e.logs.String(), "the audit log": audit.String()} {
		if strings.Contains(text, exchangeCanary) {
			t.Errorf("the credential shows in %s", what)
		}
	}
}

// TestSchedulerRun runs the scheduler with Fetch calls alongside (run it
// with -race to see data races): the schedule and the fetches bring an
// unpaused exchange's bank to the list, counted once, and a paused one
// is left alone.
func TestSchedulerRun(t *testing.T) {
	ix, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	var refuse atomic.Bool
	list := newListExchange(t, 20, &refuse)
	for _, b := range []string{"a", "b"} {
		if _, err := ix.CreateBank(t.Context(), mediamatch.Bank{Name: b}); err != nil {
			t.Fatal(err)
		}
	}
	s := NewScheduler(ix, SchedulerOptions{Tick: 10 * time.Millisecond, Interval: time.Hour})
	for _, b := range []string{"a", "b"} {
		if _, err := s.Add(t.Context(), index.Exchange{Name: b, Bank: b, Kind: "url", BaseURL: list.URL, Credentials: index.CredentialsRef{Env: "X_TOKEN"}}, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.opts.Getenv = func(string) string { return exchangeCanary }
	if _, err := ix.UpdateExchange(t.Context(), "b", func(e *index.Exchange) error { e.Paused = true; return nil }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if sum, err := s.Fetch(t.Context(), "a"); err != nil || sum.Err != nil {
				t.Errorf("Fetch = %+v, %v", sum, err)
			}
		})
	}
	wg.Wait()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		e, err := ix.GetExchange(t.Context(), "a")
		if err != nil {
			t.Fatal(err)
		}
		if e.Status.Total.Added == 20 && !e.Status.LastSuccess.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exchange a not fetched: %+v", e.Status)
		}
	}
	cancel()
	<-done
	if e, _ := ix.GetExchange(t.Context(), "b"); !e.Status.LastAttempt.IsZero() {
		t.Errorf("paused exchange b was fetched: %+v", e.Status)
	}
	if e, _ := ix.GetExchange(t.Context(), "a"); e.Status.Total.Added != 20 {
		t.Errorf("exchange a totals %+v, want 20 added", e.Status.Total)
	}
}
