package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/mediamatch/mediamatch/api/mediamatch"
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
	// DefaultMaxConnections and DefaultMaxConnectionsPerIP bound the
	// connections open at once, in all and from one peer IP address.
	DefaultMaxConnections      = 256
	DefaultMaxConnectionsPerIP = 32
)

// Config is everything `mediamatch serve` needs. The zero value of each
// field means its default.
type Config struct {
	// DataDir holds the index (Badger); created if missing. Default
	// DefaultDataDir.
	DataDir string
	// ExchangeInterval is the time between fetches of a partner exchange
	// configured without one; default DefaultExchangeInterval. The
	// credentials of exchanges are kept in the directory "exchanges" of
	// DataDir (mode 0700, files 0600).
	ExchangeInterval time.Duration
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
	// VlogGCInterval is how often the index garbage-collects Badger's
	// value log (index.Options.VlogGCInterval): 0 means every 10 minutes,
	// negative never.
	VlogGCInterval time.Duration
	// Credentials, when set, secure the listener (TLS; see TLSCredentials);
	// only then may Listen be a non-loopback address, and every call must
	// authenticate.
	Credentials credentials.TransportCredentials
	// Auth requires every call (but health checking) to authenticate even
	// on a plaintext loopback listener and before any token exists. Once
	// the index holds a token, calls must authenticate whatever Auth says.
	// `mediamatch serve` sets it unless given --dev. Without it a loopback
	// server without tokens is open to every process that can connect to
	// it, and so to anything on the host that relays connections (a
	// reverse proxy, an SSH tunnel, a container port mapping): such a
	// relay makes remote callers look local.
	Auth bool
	// ClientRoles maps the subject CN of a verified client certificate to
	// its role (see Options.ClientRoles and ParseClientRoles).
	ClientRoles map[string]mediamatch.Role
	// RateLimit, RateBurst, MaxUploads, CallTimeout and MaxCallTimeout are
	// the guard's limits (see Options); zero means the default.
	RateLimit                   float64
	RateBurst, MaxUploads       int
	CallTimeout, MaxCallTimeout time.Duration
	// Now is the clock of the index (create times, token expiry) and of
	// rate limiting; default time.Now.
	Now func() time.Time
	// ServerOptions are added to the grpc.Server's options, after the
	// server's own (Server.ServerOptions: limits, the guard's interceptors,
	// keepalive) and the credentials.
	ServerOptions []grpc.ServerOption
	// Ready, if set, is called with the listening address once the server
	// accepts calls.
	Ready func(addr net.Addr)

	// MaxConnections and MaxConnectionsPerIP bound the connections open at
	// once, in all and from one peer IP address; a connection over either
	// is closed as soon as it is accepted. Defaults DefaultMaxConnections
	// and DefaultMaxConnectionsPerIP.
	MaxConnections, MaxConnectionsPerIP int
	// MaxCalls, MaxCallsPerIP, MaxCallsPerCaller, MaxUploadsPerCaller, UploadIdleTimeout,
	// MinUploadRate and MaxUploadMemory are the guard's limits on calls and uploads (see
	// Options); zero means the default.
	MaxCalls, MaxCallsPerIP int
	MaxCallsPerCaller       int
	MaxUploadsPerCaller     int
	UploadIdleTimeout       time.Duration
	MinUploadRate           int64
	MaxUploadMemory         int64

	// DecodeMemory, MaxJPEGScans and ImageTimeout bound in-process image
	// decoding (see fingerprint.Options); zero means the default.
	DecodeMemory int64
	MaxJPEGScans int
	ImageTimeout time.Duration
	// MinFreeBytes, AuditRetention and AuditMaxEntries are the index's
	// free-space reserve and audit retention (see index.Options); zero
	// means the default, negative turns the limit off.
	MinFreeBytes    int64
	AuditRetention  time.Duration
	AuditMaxEntries int
	// MatcherThresholds, MaxMatcherResults, MaxMatchProbes, MaxMatchHits
	// and MaxFrameMatches are what callers below curator may ask of a
	// match and what one match call may cost (see Options); zero means
	// the default.
	MatcherThresholds map[mediamatch.SignalType]int
	MaxMatcherResults int
	MaxMatchProbes    int
	MaxMatchHits      int
	MaxFrameMatches   int

	// Operations (metrics, health; see metrics.go and health.go).

	// MetricsListen, when set, serves Prometheus metrics at /metrics on
	// this TCP address (HTTP, or HTTPS with MetricsTLSCert and
	// MetricsTLSKey). Without MetricsToken or TLS only loopback addresses
	// are allowed. Empty: no metrics are gathered or served.
	MetricsListen string
	// MetricsToken, when set, is required of scrapers as
	// "Authorization: Bearer TOKEN". A secret: never logged.
	MetricsToken string
	// MetricsTLSCert and MetricsTLSKey are PEM files: serve metrics over
	// HTTPS.
	MetricsTLSCert, MetricsTLSKey string
	// MetricsReady, if set, is called with the metrics address once it
	// accepts scrapes.
	MetricsReady func(addr net.Addr)
	// Listening, if set, is called with the listening address as soon as
	// it is bound, before the index loads: health checking answers
	// NOT_SERVING there until the index has loaded (then Ready is called).
	Listening func(addr net.Addr)
	// Build names the running binary in metrics and status; default
	// ReadBuildInfo().
	Build *BuildInfo

	// beforeOpen, if set, runs before the index is opened (tests hold the
	// loading phase with it).
	beforeOpen func()
}

// Run serves mediamatch until ctx is done: it opens the index in
// cfg.DataDir, listens on cfg.Listen, and serves MatchService, HashService,
// BankService and AdminService with health checking (each service and ""
// report SERVING) and server reflection, every call through the guard
// (Server.ServerOptions). When authentication is required (cfg.Credentials
// or cfg.Auth) and the index holds no token, and no client certificate is
// given the admin role, it first creates an admin token and writes its
// secret to the file BootstrapTokenFile in cfg.DataDir (mode 0600; the
// log names the file, never the secret). When ctx is done it reports NOT_SERVING,
// stops gracefully (waiting at most cfg.ShutdownTimeout), closes the index
// and returns nil. It returns an error if the address is not allowed or
// cannot be listened on, if the index cannot be opened, or if serving
// fails.
//
// Operations: from the moment the address is bound until the index has
// loaded, only health checking is served there, answering NOT_SERVING;
// on ctx done it answers NOT_SERVING again while calls drain. With
// cfg.MetricsListen, Prometheus metrics are served there (metrics.go);
// AdminService.GetServerStatus and BackupStore report and back up the
// store (status.go, backup.go).
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
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxConnectionsPerIP <= 0 {
		cfg.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
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
	if cfg.MetricsListen != "" {
		if err := checkMetricsListen(cfg.MetricsListen, cfg.MetricsToken != "", cfg.MetricsTLSCert != ""); err != nil {
			return err
		}
		if (cfg.MetricsTLSCert == "") != (cfg.MetricsTLSKey == "") {
			return errors.New("server: metrics TLS needs both a certificate and a key")
		}
	}
	if ff := orDefault(cfg.FFmpeg, "ffmpeg"); !found(ff) {
		log.Warn("ffmpeg not found: videos cannot be hashed", slog.String("ffmpeg", ff))
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("server: data dir: %w", err)
	}
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
	// While the index loads, health checking answers NOT_SERVING on the
	// address (health.go); the full server takes the address over after.
	hand := newHandoff(newLimitListener(lis, cfg.MaxConnections, cfg.MaxConnectionsPerIP, log))
	defer hand.Close()
	var loadOpts []grpc.ServerOption
	if cfg.Credentials != nil {
		loadOpts = append(loadOpts, grpc.Creds(cfg.Credentials))
	}
	loading := loadingServer(loadOpts...)
	loadingDone := make(chan struct{})
	go func() { defer close(loadingDone); _ = loading.Serve(hand.current()) }()
	stopLoading := sync.OnceFunc(func() { loading.Stop(); <-loadingDone })
	defer stopLoading()
	log.Info("loading index", slog.String("addr", lis.Addr().String()), slog.String("data", cfg.DataDir))
	if cfg.Listening != nil {
		cfg.Listening(lis.Addr())
	}
	if cfg.beforeOpen != nil {
		cfg.beforeOpen()
	}
	var metrics *Metrics
	var searchObserved func(mediamatch.SignalType, time.Duration)
	if cfg.MetricsListen != "" {
		metrics = NewMetrics()
		searchObserved = metrics.observeSearch
	}
	openStart := time.Now()
	ix, err := index.Open(cfg.DataDir, index.Options{Logger: log, Now: cfg.Now,
		MinFreeBytes: cfg.MinFreeBytes, AuditRetention: cfg.AuditRetention, AuditMaxEntries: cfg.AuditMaxEntries,
		SearchObserved: searchObserved, VlogGCInterval: cfg.VlogGCInterval})
	if err != nil {
		return fmt.Errorf("server: open index in %s: %w", cfg.DataDir, err)
	}
	loadTime := time.Since(openStart)
	defer func() {
		if err := ix.Close(); err != nil {
			log.Error("close index", slog.Any("err", err))
		}
	}()

	requireAuth := cfg.Auth || cfg.Credentials != nil
	if requireAuth && !ix.HasTokens() && !slices.Contains(slices.Collect(maps.Values(cfg.ClientRoles)), mediamatch.RoleAdmin) {
		path, err := bootstrapToken(ctx, ix, ix, cfg.DataDir)
		if err != nil {
			return err
		}
		log.Warn("authentication is required and no token existed: created an admin token; its secret is in "+
			"the file (read it, keep it somewhere safe, delete the file)", slog.String("file", path))
	} else if err := WatchBootstrapToken(ix, cfg.DataDir); err != nil { // a file left by an earlier run
		return err
	}

	var ffmpegDone func(wall, cpu time.Duration)
	if metrics != nil {
		ffmpegDone = metrics.observeFFmpeg
	}
	hasher := fingerprint.New(fingerprint.Options{FFmpeg: cfg.FFmpeg, Logger: log, FFmpegDone: ffmpegDone,
		DecodeMemory: cfg.DecodeMemory, MaxJPEGScans: cfg.MaxJPEGScans, ImageTimeout: cfg.ImageTimeout})
	// Operators see at start how far ffmpeg is confined on this machine.
	if files, net := hasher.FileAccessConfined(), hasher.NetworkIsolated(); files && net {
		log.Info("ffmpeg confined", slog.Bool("file_access", files), slog.Bool("network", net))
	} else {
		log.Warn("ffmpeg runs less confined than it could: Landlock or a network namespace is not available "+
			"(an older kernel, or a container without CAP_SYS_ADMIN)", slog.Bool("file_access", files), slog.Bool("network", net))
	}
	build := ReadBuildInfo()
	if cfg.Build != nil {
		build = *cfg.Build
	}
	var (
		sIndex   Index  = ix
		sHasher  Hasher = hasher
		preOpts  []grpc.ServerOption
		startAt  = time.Now()
		metricsc <-chan struct{}
	)
	if metrics != nil {
		metrics.reg.MustRegister(newStatsCollector(ix.Stats, cfg.DataDir, loadTime, startAt, build))
		sIndex, sHasher = metricsIndex{Index: ix, m: metrics}, metricsHasher{h: hasher, m: metrics}
		preOpts = metrics.serverOptions()
		// Metrics stay up while the server drains; they stop when Run returns.
		mctx, mcancel := context.WithCancel(context.WithoutCancel(ctx))
		defer mcancel()
		addr, done, err := serveMetrics(mctx, cfg, metrics.reg, log)
		if err != nil {
			return err
		}
		metricsc = done
		defer func() { mcancel(); <-metricsc }()
		if cfg.MetricsReady != nil {
			cfg.MetricsReady(addr)
		}
	}
	imports := &lastImports{}
	now := orNow(cfg.Now)
	preOpts = append(preOpts, grpc.ChainStreamInterceptor(importWatch(metrics, imports, now)))
	ffmpegVersion := FFmpegVersion(ctx, orDefault(cfg.FFmpeg, "ffmpeg"))
	status := func() Status {
		return Status{Build: build, FFmpeg: ffmpegVersion, Start: startAt, IndexLoad: loadTime,
			DataDirBytes: sum(DataDirUsage(cfg.DataDir)), Index: ix.Stats(), LastImport: imports.all()}
	}
	// The scheduler fetches the partner exchanges; it stops, its runs
	// cancelled, before the index closes.
	sched := NewScheduler(ix, SchedulerOptions{CredentialsDir: filepath.Join(cfg.DataDir, "exchanges"),
		Interval: cfg.ExchangeInterval, Logger: log, Now: cfg.Now})
	schedCtx, schedStop := context.WithCancel(context.WithoutCancel(ctx))
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); sched.Run(schedCtx) }()
	defer func() { schedStop(); <-schedDone }()
	s := New(sIndex, sHasher, Options{
		Exchanges:      sched,
		Status:         status,
		Backup:         ix.Backup,
		MaxUnaryBytes:  cfg.MaxUnaryBytes,
		MaxStreamBytes: cfg.MaxStreamBytes,
		Logger:         log,
		RequireAuth:    requireAuth,
		ClientRoles:    cfg.ClientRoles,
		RateLimit:      cfg.RateLimit,
		RateBurst:      cfg.RateBurst,
		MaxUploads:     cfg.MaxUploads,
		CallTimeout:    cfg.CallTimeout,
		MaxCallTimeout: cfg.MaxCallTimeout,
		Now:            cfg.Now,

		MaxCalls:            cfg.MaxCalls,
		MaxCallsPerIP:       cfg.MaxCallsPerIP,
		MaxCallsPerCaller:   cfg.MaxCallsPerCaller,
		MaxUploadsPerCaller: cfg.MaxUploadsPerCaller,
		UploadIdleTimeout:   cfg.UploadIdleTimeout,
		MinUploadRate:       cfg.MinUploadRate,
		MaxUploadMemory:     cfg.MaxUploadMemory,

		MatcherThresholds: cfg.MatcherThresholds,
		MaxMatcherResults: cfg.MaxMatcherResults,
		MaxMatchProbes:    cfg.MaxMatchProbes,
		MaxMatchHits:      cfg.MaxMatchHits,
		MaxFrameMatches:   cfg.MaxFrameMatches,
	})
	var opts []grpc.ServerOption
	if cfg.Credentials != nil {
		opts = append(opts, grpc.Creds(cfg.Credentials))
	}
	gs, hs := newGRPCServerWith(preOpts, s, append(opts, cfg.ServerOptions...)...)
	if metrics != nil {
		metrics.grpc.InitializeMetrics(gs)
	}

	errc := make(chan error, 1)
	serving := hand.next() // the loading server's phase ends here
	go func() { errc <- gs.Serve(serving) }()
	stopLoading()
	flushed := make(chan struct{})
	go func() { // the audit log's gathered refusals
		defer close(flushed)
		t := time.NewTicker(s.opts.RefusalWindow)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.FlushAudit(ctx, false)
			case <-ctx.Done():
				return
			}
		}
	}()
	log.Info("listening", slog.String("addr", lis.Addr().String()), slog.String("data", cfg.DataDir),
		slog.Bool("tls", cfg.Credentials != nil), slog.Bool("auth_required", requireAuth || ix.HasTokens()),
		slog.Int64("max_unary_bytes", s.opts.MaxUnaryBytes), slog.Int64("max_stream_bytes", s.opts.MaxStreamBytes),
		slog.Int("max_uploads", s.opts.MaxUploads), slog.Float64("rate_limit", s.opts.RateLimit),
		slog.Int("max_connections", cfg.MaxConnections), slog.Int("max_calls", s.opts.MaxCalls),
		slog.Int64("memory_bound_bytes", s.opts.MemoryBound(cfg.MaxConnections)),
		slog.Duration("index_load", loadTime), slog.String("version", build.Version))
	if cfg.Ready != nil {
		cfg.Ready(lis.Addr())
	}

	select {
	case err := <-errc:
		hs.Shutdown()
		s.FlushAudit(context.WithoutCancel(ctx), true)
		return fmt.Errorf("server: serve: %w", err)
	case <-ctx.Done():
	}
	// Draining: health checking says NOT_SERVING, new calls are refused and
	// the calls in flight get cfg.ShutdownTimeout (serve --drain-grace).
	log.Info("shutting down: draining", slog.Duration("drain_grace", cfg.ShutdownTimeout))
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
	<-flushed
	s.FlushAudit(context.WithoutCancel(ctx), true)
	log.Info("calls served", slog.Any("counts", s.Counts()))
	log.Info("stopped")
	return nil
}

// newGRPCServer returns a grpc.Server guarded by s (s.ServerOptions, then
// extra) with every service registered: s's four, health checking (each
// service and "" SERVING) and reflection.
func newGRPCServer(s *Server, extra ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	return newGRPCServerWith(nil, s, extra...)
}

// newGRPCServerWith is newGRPCServer with pre before s.ServerOptions (their
// interceptors outermost: metrics count the calls the guard refuses).
func newGRPCServerWith(pre []grpc.ServerOption, s *Server, extra ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	gs := grpc.NewServer(append(append(pre, s.ServerOptions()...), extra...)...)
	s.Register(gs)
	hs := health.NewServer()
	gs.RegisterService(s.parseErrorsInvalid(&healthpb.Health_ServiceDesc), hs)
	for _, name := range append(ServiceNames(), "") {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	reflection.Register(gs)
	return gs, hs
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
	return fmt.Errorf("server: refusing to listen on %q: without TLS mediamatch serves loopback only "+
		"(e.g. 127.0.0.1:7878 or [::1]:7878); give a certificate (serve --tls-cert and --tls-key) to listen "+
		"on other addresses", addr)
}

// limitListener closes, as soon as they are accepted, the connections over
// max open at once or over perIP from one peer IP address.
type limitListener struct {
	net.Listener
	max, perIP int
	log        *slog.Logger

	mu   sync.Mutex
	n    int
	byIP map[string]int
}

func newLimitListener(l net.Listener, max, perIP int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: l, max: max, perIP: perIP, log: log, byIP: make(map[string]int)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := c.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
		l.mu.Lock()
		if l.n >= l.max || l.byIP[ip] >= l.perIP {
			n, byIP := l.n, l.byIP[ip]
			l.mu.Unlock()
			c.Close()
			l.log.Debug("connection refused: over the connection limits", slog.String("peer", ip),
				slog.Int("open", n), slog.Int("max", l.max), slog.Int("open_from_peer", byIP), slog.Int("max_per_ip", l.perIP))
			continue
		}
		l.n++
		l.byIP[ip]++
		l.mu.Unlock()
		return &limitConn{Conn: c, release: sync.OnceFunc(func() { l.release(ip) })}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// limitConn is a connection counted by a limitListener until it is closed.
type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

func orNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
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
