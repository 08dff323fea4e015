package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// Defaults of Config.
const (
	// DefaultListen is where `mediamatch serve` listens by default: port
	// 7878 on the IPv4 loopback.
	DefaultListen = "127.0.0.1:7878"
	// DefaultDataDir is where the index is kept by default.
	DefaultDataDir = "./data"
	// DefaultShutdownTimeout bounds the wait for in-flight calls on shutdown.
	DefaultShutdownTimeout = 10 * time.Second
)

// Config is everything `mediamatch serve` needs. The zero value of each
// field means its default.
type Config struct {
	// DataDir holds the index (Badger); created if missing. Default
	// DefaultDataDir.
	DataDir string
	// Listen is the TCP address to listen on; default DefaultListen. Port 0
	// picks a free port (see Ready). Without Credentials only loopback
	// addresses are allowed.
	Listen string
	// MaxUnaryBytes and MaxStreamBytes are the upload limits (see Options).
	MaxUnaryBytes, MaxStreamBytes int64
	// FFmpeg is the path of the ffmpeg binary; default "ffmpeg" from PATH.
	FFmpeg string
	// Logger receives the server's log; default discards.
	Logger *slog.Logger
	// ShutdownTimeout bounds the wait for in-flight calls once ctx is
	// done; calls still running then are cancelled. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Credentials, when set, secure the listener (TLS); only then may
	// Listen be a non-loopback address.
	Credentials credentials.TransportCredentials
	// ServerOptions are added to the grpc.Server's options, after the
	// message size limits: interceptors (authentication, rate limits,
	// recovery) and keepalive policy go here.
	ServerOptions []grpc.ServerOption
	// Ready, if set, is called with the listening address once the server
	// accepts calls.
	Ready func(addr net.Addr)
}

// Run serves mediamatch until ctx is done: it opens the index in
// cfg.DataDir, listens on cfg.Listen, and serves MatchService, HashService
// and BankService with health checking (each service and "" report
// SERVING) and server reflection. When ctx is done it reports NOT_SERVING,
// stops gracefully (waiting at most cfg.ShutdownTimeout), closes the index
// and returns nil. It returns an error if the address is not allowed or
// cannot be listened on, if the index cannot be opened, or if serving
// fails.
func Run(ctx context.Context, cfg Config) error {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Credentials == nil {
		if err := checkLoopback(cfg.Listen); err != nil {
			return err
		}
	}
	if ff := orDefault(cfg.FFmpeg, "ffmpeg"); !found(ff) {
		log.Warn("ffmpeg not found: videos cannot be hashed", slog.String("ffmpeg", ff))
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("server: data dir: %w", err)
	}
	ix, err := index.Open(cfg.DataDir, index.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("server: open index in %s: %w", cfg.DataDir, err)
	}
	defer func() {
		if err := ix.Close(); err != nil {
			log.Error("close index", slog.Any("err", err))
		}
	}()

	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if cfg.Credentials == nil {
		// "localhost" might resolve elsewhere: check what was bound.
		if err := checkLoopback(lis.Addr().String()); err != nil {
			lis.Close()
			return err
		}
	}

	s := New(ix, fingerprint.New(fingerprint.Options{FFmpeg: cfg.FFmpeg}), Options{
		MaxUnaryBytes:  cfg.MaxUnaryBytes,
		MaxStreamBytes: cfg.MaxStreamBytes,
		Logger:         log,
	})
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(s.opts.MaxRecvMsgSize())}
	if cfg.Credentials != nil {
		opts = append(opts, grpc.Creds(cfg.Credentials))
	}
	gs := grpc.NewServer(append(opts, cfg.ServerOptions...)...)
	s.Register(gs)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	for _, name := range append(ServiceNames(), "") {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	reflection.Register(gs)

	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	log.Info("listening", slog.String("addr", lis.Addr().String()), slog.String("data", cfg.DataDir),
		slog.Int64("max_unary_bytes", s.opts.MaxUnaryBytes), slog.Int64("max_stream_bytes", s.opts.MaxStreamBytes))
	if cfg.Ready != nil {
		cfg.Ready(lis.Addr())
	}

	select {
	case err := <-errc:
		hs.Shutdown()
		return fmt.Errorf("server: serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(cfg.ShutdownTimeout):
		log.Warn("calls still running after the shutdown timeout; cancelling them",
			slog.Duration("timeout", cfg.ShutdownTimeout))
		gs.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		log.Error("serve", slog.Any("err", err))
	}
	log.Info("stopped")
	return nil
}

// checkLoopback returns an error unless addr is a loopback address.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("server: listen address %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("server: refusing to listen on %q: without TLS and authentication mediamatch "+
		"serves loopback only (e.g. 127.0.0.1:7878 or [::1]:7878); put it behind an authenticating proxy "+
		"on the same host until credentials are supported", addr)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func found(bin string) bool {
	_, err := exec.LookPath(bin)
	return err == nil
}
