package server

import (
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
)

// Status is what AdminService.GetServerStatus reports (`mediamatch
// status`). Run fills it through Options.Status.
type Status struct {
	Build     BuildInfo
	FFmpeg    string // the ffmpeg binary's version, or why it is unknown
	Start     time.Time
	IndexLoad time.Duration
	// DataDirBytes is the size of the data dir's files (DataDirUsage).
	DataDirBytes int64
	Index        index.Stats
	// LastImport is when the last import into each bank committed since
	// the server started.
	LastImport map[string]time.Time
}

// GetServerStatus reports Options.Status; a caller limited to banks sees
// only its banks. Without Options.Status it reports the build only.
func (a *adminService) GetServerStatus(ctx context.Context, _ *pb.GetServerStatusRequest) (*pb.GetServerStatusResponse, error) {
	st := Status{Build: ReadBuildInfo()}
	if a.s.opts.Status != nil {
		st = a.s.opts.Status()
	}
	resp := &pb.GetServerStatusResponse{
		Version: st.Build.Version, Revision: st.Build.Revision, GoVersion: st.Build.GoVersion,
		IndexLoadMillis: st.IndexLoad.Milliseconds(), DataDirBytes: st.DataDirBytes,
		Items: int64(st.Index.Items), FfmpegVersion: st.FFmpeg,
	}
	if !st.Start.IsZero() {
		resp.StartTime = timestamppb.New(st.Start)
	}
	scope := callerBanks(ctx)
	for _, name := range slices.Sorted(mapKeys(st.Index.BankItems)) {
		if scope != nil && !slices.Contains(scope, name) {
			continue
		}
		b := &pb.BankStatus{Name: name, Items: st.Index.BankItems[name]}
		for _, t := range mediamatch.MatchTypes() {
			b.Signals = append(b.Signals, &pb.SignalCount{Type: pb.SignalTypeToProto(t), Count: st.Index.BankSignals[name][t]})
		}
		if t, ok := st.LastImport[name]; ok {
			b.LastImportTime = timestamppb.New(t)
		}
		resp.Banks = append(resp.Banks, b)
	}
	if scope != nil { // the totals would tell of other banks
		resp.Items = 0
		for _, b := range resp.Banks {
			resp.Items += b.Items
		}
		resp.DataDirBytes = 0
		return resp, nil
	}
	for _, t := range mediamatch.MatchTypes() {
		resp.Signals = append(resp.Signals, &pb.SignalCount{Type: pb.SignalTypeToProto(t), Count: int64(st.Index.Signals[t])})
	}
	return resp, nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// lastImports records when the last import into each bank committed.
// Safe for concurrent use.
type lastImports struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (l *lastImports) set(bank string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]time.Time{}
	}
	l.m[bank] = t
}

// all returns a copy of the record.
func (l *lastImports) all() map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]time.Time, len(l.m))
	for k, v := range l.m {
		out[k] = v
	}
	return out
}

// importWatch is a stream interceptor that sees each ImportSignals call:
// its bank from the first message, the bytes it receives, and its
// response once committed; m (optional) counts them, last records when.
func importWatch(m *Metrics, last *lastImports, now func() time.Time) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != pb.BankService_ImportSignals_FullMethodName {
			return handler(srv, ss)
		}
		return handler(srv, &importCounter{ServerStream: ss, m: m, last: last, now: now})
	}
}
