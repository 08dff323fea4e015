package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// Metrics are the server's Prometheus metrics, in a registry of their own
// (no global state): gRPC calls by method and code (the usual
// grpc_server_* names of go-grpc-middleware's prometheus provider), match
// latency, search latency by signal type and matches by bank, media hash
// latency and failures by kind, ffmpeg failures and kills, imports, the
// index's size, the data dir's disk usage and Badger's value-log GC. Safe
// for concurrent use.
type Metrics struct {
	reg  *prometheus.Registry
	grpc *grpcprom.ServerMetrics

	matchSeconds *prometheus.HistogramVec // by kind of call: media, signals
	searchSecs   *prometheus.HistogramVec // by signal type
	matches      *prometheus.CounterVec   // by bank and signal type
	hashSeconds  *prometheus.HistogramVec // by media kind
	hashFailures *prometheus.CounterVec   // by media kind and reason
	ffmpegFails  *prometheus.CounterVec   // by reason: killed, failed
	ffmpegWall   prometheus.Histogram     // wall-clock seconds per ffmpeg run
	ffmpegCPU    prometheus.Counter       // CPU seconds of every ffmpeg run
	importBytes  prometheus.Counter
	importItems  *prometheus.CounterVec // by bank and result
	importLast   *prometheus.GaugeVec   // by bank: unix time of the last committed import
}

// Names of the metrics this package defines (besides the grpc_server_*
// ones and the Go runtime's and process's).
const (
	MetricMatchSeconds      = "mediamatch_match_seconds"
	MetricMatches           = "mediamatch_matches_total"
	MetricSearchSeconds     = "mediamatch_index_search_seconds"
	MetricHashSeconds       = "mediamatch_media_hash_seconds"
	MetricHashFailures      = "mediamatch_media_hash_failures_total"
	MetricFFmpegFailures    = "mediamatch_ffmpeg_failures_total"
	MetricFFmpegSeconds     = "mediamatch_ffmpeg_seconds"
	MetricFFmpegCPU         = "mediamatch_ffmpeg_cpu_seconds_total"
	MetricImportBytes       = "mediamatch_import_bytes_total"
	MetricImportItems       = "mediamatch_import_items_total"
	MetricImportLast        = "mediamatch_import_last_success_timestamp_seconds"
	MetricIndexItems        = "mediamatch_index_items"
	MetricBankItems         = "mediamatch_bank_items"
	MetricIndexSignals      = "mediamatch_index_signals"
	MetricDataDirBytes      = "mediamatch_data_dir_bytes"
	MetricVlogGCRuns        = "mediamatch_badger_vlog_gc_runs_total"
	MetricVlogGCRewrites    = "mediamatch_badger_vlog_gc_rewrites_total"
	MetricIndexLoadSeconds  = "mediamatch_index_load_seconds"
	MetricStartTimeSeconds  = "mediamatch_start_time_seconds"
	MetricBuildInfo         = "mediamatch_build_info"
	metricHelpIndexSignals  = "Signals in the in-memory search structures, by signal type."
	metricHelpDataDirBytes  = "Bytes of the data dir's files, by kind: sst (Badger tables), vlog (Badger value log), other."
	metricHelpVlogGCRuns    = "Badger value-log GC rounds run since start (every 10 minutes)."
	metricHelpVlogGCRewrite = "Badger value-log files rewritten by the GC since start, each reclaiming the space of deleted or overwritten values."
	metricHelpBankItems     = "Items of each live bank."
	metricHelpIndexItems    = "Items stored in the index, enabled or not."
	metricHelpLoadSeconds   = "How long opening the index (reading the store and building the searches) took at start."
	metricHelpStartTime     = "Unix time at which the server started serving."
	metricHelpBuildInfo     = "Always 1; labels name the build."
	metricLabelKind         = "kind"
	metricLabelBank         = "bank"
	metricLabelSignal       = "signal"
	metricLabelReason       = "reason"
	metricLabelResult       = "result"
	metricLabelCall         = "call"
	metricLabelType         = "type"
	metricLabelVersion      = "version"
	metricLabelGoVersion    = "goversion"
	metricLabelRevision     = "revision"
	metricReasonKilled      = "killed"
	metricReasonFailed      = "failed"
	metricCallMedia         = "media"
	metricCallSignals       = "signals"
	metricKindUnknown       = "unknown"
	metricResultAdded       = "added"
	metricResultUpdated     = "updated"
	metricResultDeleted     = "deleted"
	metricResultUnchanged   = "unchanged"
	metricResultRejected    = "rejected"
	metricDataDirSST        = "sst"
	metricDataDirVlog       = "vlog"
	metricDataDirOther      = "other"
	metricHashReasonCorrupt = "corrupt"
)

// NewMetrics returns the server's metrics with the Go runtime's and the
// process's collectors registered.
func NewMetrics() *Metrics {
	latency := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets(latency))),
		matchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricMatchSeconds,
			Help:    "Time of the index search of one match call (after hashing), by call: media (MatchMedia, MatchMediaStream) or signals (MatchSignals).",
			Buckets: latency}, []string{metricLabelCall}),
		searchSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricSearchSeconds,
			Help: "Time one match call spent in the search structures of one perceptual signal type (pdq, phash, dhash), " +
				"over all its keyframes; one observation per type searched and call.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{metricLabelType}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricMatches,
			Help: "Matches returned, by bank and the signal type of the best hit."}, []string{metricLabelBank, metricLabelSignal}),
		hashSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricHashSeconds,
			Help:    "Time to decode and hash one upload, by media kind (image, video, unknown when refused).",
			Buckets: latency}, []string{metricLabelKind}),
		hashFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricHashFailures,
			Help: "Uploads that could not be hashed, by media kind as sniffed from the first bytes and reason (corrupt, unsupported, too_large, empty, deadline, canceled, other)."},
			[]string{metricLabelKind, metricLabelReason}),
		ffmpegFails: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricFFmpegFailures,
			Help: "Video uploads whose ffmpeg run failed, by reason: killed (deadline or CPU limit) or failed."},
			[]string{metricLabelReason}),
		ffmpegWall: prometheus.NewHistogram(prometheus.HistogramOpts{Name: MetricFFmpegSeconds,
			Help: "Wall-clock time of each ffmpeg run (a video upload's decoding), whether it succeeded or not.", Buckets: latency}),
		ffmpegCPU: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricFFmpegCPU,
			Help: "CPU time (user and system, all threads) used by ffmpeg runs."}),
		importBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricImportBytes,
			Help: "Bytes of partner lists received by ImportSignals (import progress)."}),
		importItems: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricImportItems,
			Help: "Items of committed imports, by bank and result (added, updated, deleted, unchanged, rejected)."},
			[]string{metricLabelBank, metricLabelResult}),
		importLast: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricImportLast,
			Help: "Unix time of the last import committed into each bank (index staleness)."}, []string{metricLabelBank}),
	}
	m.reg.MustRegister(m.grpc, m.matchSeconds, m.searchSecs, m.matches, m.hashSeconds, m.hashFailures, m.ffmpegFails,
		m.ffmpegWall, m.ffmpegCPU,
		m.importBytes, m.importItems, m.importLast,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, t := range mediamatch.MatchTypes() {
		if !t.Exact() {
			m.searchSecs.WithLabelValues(string(t)) // present at 0 from the start
		}
	}
	for _, r := range []string{metricReasonKilled, metricReasonFailed} {
		m.ffmpegFails.WithLabelValues(r) // present at 0 from the start
	}
	return m
}

// Registry returns the registry that holds m, for tests and for adding
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// serverOptions are the interceptors that count and time every call,
// outermost so that calls the guard refuses are counted with their code.
func (m *Metrics) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.grpc.UnaryServerInterceptor(), markMediaUnary),
		grpc.ChainStreamInterceptor(m.grpc.StreamServerInterceptor(), markMediaStream),
	}
}

type importCounter struct {
	grpc.ServerStream
	m    *Metrics // nil: metrics off
	last *lastImports
	now  func() time.Time
	bank string
}

func (c *importCounter) RecvMsg(msg any) error {
	err := c.ServerStream.RecvMsg(msg)
	if r, ok := msg.(*pb.ImportSignalsRequest); ok && err == nil {
		if c.bank == "" && mediamatch.ValidateBankName("bank", r.GetBank()) == nil {
			c.bank = r.GetBank()
		}
		if c.m != nil {
			c.m.importBytes.Add(float64(len(r.GetChunk())))
		}
	}
	return err
}

// SendMsg sees the response, sent once the import has committed.
func (c *importCounter) SendMsg(msg any) error {
	if r, ok := msg.(*pb.ImportSignalsResponse); ok && c.bank != "" {
		t := c.now()
		c.last.set(c.bank, t)
		if c.m != nil {
			for _, x := range []struct {
				result string
				n      int64
			}{{metricResultAdded, r.GetAdded()}, {metricResultUpdated, r.GetUpdated()}, {metricResultDeleted, r.GetDeleted()},
				{metricResultUnchanged, r.GetUnchanged()}, {metricResultRejected, r.GetRejected()}} {
				c.m.importItems.WithLabelValues(c.bank, x.result).Add(float64(x.n))
			}
			c.m.importLast.WithLabelValues(c.bank).Set(float64(t.UnixNano()) / 1e9)
		}
	}
	return c.ServerStream.SendMsg(msg)
}

// observeMatch records one index search and its matches.
func (m *Metrics) observeMatch(call string, d time.Duration, ms []mediamatch.Match) {
	m.matchSeconds.WithLabelValues(call).Observe(d.Seconds())
	for _, x := range ms {
		m.matches.WithLabelValues(x.Bank, string(x.Signal)).Inc()
	}
}

// observeHash records one decode and hash of an upload.
// observeSearch is index.Options.SearchObserved.
func (m *Metrics) observeSearch(t mediamatch.SignalType, d time.Duration) {
	m.searchSecs.WithLabelValues(string(t)).Observe(d.Seconds())
}

// observeFFmpeg records one ffmpeg run (fingerprint.Options.FFmpegDone).
func (m *Metrics) observeFFmpeg(wall, cpu time.Duration) {
	m.ffmpegWall.Observe(wall.Seconds())
	m.ffmpegCPU.Add(cpu.Seconds())
}

func (m *Metrics) observeHash(data []byte, d time.Duration, md mediamatch.Media, err error) {
	if err == nil {
		m.hashSeconds.WithLabelValues(md.Kind.String()).Observe(d.Seconds())
		return
	}
	kind := sniffKind(data)
	reason := hashFailureReason(err)
	m.hashSeconds.WithLabelValues(metricKindUnknown).Observe(d.Seconds())
	m.hashFailures.WithLabelValues(kind, reason).Inc()
	if kind == mediamatch.KindVideo.String() && reason != "canceled" {
		if reason == "deadline" || strings.Contains(err.Error(), "killed") || errors.Is(err, fingerprint.ErrTooLarge) {
			m.ffmpegFails.WithLabelValues(metricReasonKilled).Inc()
		} else {
			m.ffmpegFails.WithLabelValues(metricReasonFailed).Inc()
		}
	}
}

// sniffKind names the kind of an upload that could not be hashed from its
// first bytes (the standard library's sniffing): "video" for what ffmpeg
// would have decoded, "image", or "unknown".
func sniffKind(data []byte) string {
	ct := http.DetectContentType(data[:min(len(data), 512)])
	switch {
	case strings.HasPrefix(ct, "video/"), ct == "application/ogg":
		return mediamatch.KindVideo.String()
	case strings.HasPrefix(ct, "image/"):
		return mediamatch.KindImage.String()
	}
	return metricKindUnknown
}

func hashFailureReason(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, fingerprint.ErrEmpty):
		return "empty"
	case errors.Is(err, fingerprint.ErrTooLarge):
		return "too_large"
	case errors.Is(err, fingerprint.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, fingerprint.ErrCorrupt):
		return metricHashReasonCorrupt
	}
	return "other"
}

// metricsHasher times every hash of h into m.
type metricsHasher struct {
	h Hasher
	m *Metrics
}

func (mh metricsHasher) HashWith(ctx context.Context, data []byte, o fingerprint.HashOptions) (mediamatch.Media, error) {
	start := time.Now()
	md, err := mh.h.HashWith(ctx, data, o)
	mh.m.observeHash(data, time.Since(start), md, err)
	return md, err
}

// metricsIndex times every match of the index into m and counts its
// matches by bank; everything else passes through.
type metricsIndex struct {
	Index
	m *Metrics
}

func (mi metricsIndex) Match(ctx context.Context, q index.Query) ([]mediamatch.Match, error) {
	start := time.Now()
	ms, err := mi.Index.Match(ctx, q)
	if err == nil {
		call := metricCallSignals
		if ctx.Value(mediaCallKey{}) != nil {
			call = metricCallMedia
		}
		mi.m.observeMatch(call, time.Since(start), ms)
	}
	return ms, err
}

// mediaCallKey marks the context of a match call that hashed an upload.
type mediaCallKey struct{}

// markMediaCalls is a pair of interceptors that mark the contexts of
// MatchMedia and MatchMediaStream, so that metricsIndex tells their
// searches from MatchSignals'.
func markMediaUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod == pb.MatchService_MatchMedia_FullMethodName {
		ctx = context.WithValue(ctx, mediaCallKey{}, true)
	}
	return handler(ctx, req)
}

func markMediaStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod == pb.MatchService_MatchMediaStream_FullMethodName {
		return handler(srv, &ctxStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), mediaCallKey{}, true)})
	}
	return handler(srv, ss)
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// statsCollector reports, at each scrape, the index's size and the data
// dir's disk usage, and the start facts (load time, start time, build).
type statsCollector struct {
	stats     func() index.Stats
	dir       string
	load      time.Duration
	start     time.Time
	build     BuildInfo
	items     *prometheus.Desc
	bankItems *prometheus.Desc
	signals   *prometheus.Desc
	dirBytes  *prometheus.Desc
	gcRuns    *prometheus.Desc
	gcRewrite *prometheus.Desc
	loadSecs  *prometheus.Desc
	startTime *prometheus.Desc
	buildInfo *prometheus.Desc
}

func newStatsCollector(stats func() index.Stats, dir string, load time.Duration, start time.Time, build BuildInfo) *statsCollector {
	return &statsCollector{stats: stats, dir: dir, load: load, start: start, build: build,
		items:     prometheus.NewDesc(MetricIndexItems, metricHelpIndexItems, nil, nil),
		bankItems: prometheus.NewDesc(MetricBankItems, metricHelpBankItems, []string{metricLabelBank}, nil),
		signals:   prometheus.NewDesc(MetricIndexSignals, metricHelpIndexSignals, []string{metricLabelType}, nil),
		dirBytes:  prometheus.NewDesc(MetricDataDirBytes, metricHelpDataDirBytes, []string{metricLabelKind}, nil),
		gcRuns:    prometheus.NewDesc(MetricVlogGCRuns, metricHelpVlogGCRuns, nil, nil),
		gcRewrite: prometheus.NewDesc(MetricVlogGCRewrites, metricHelpVlogGCRewrite, nil, nil),
		loadSecs:  prometheus.NewDesc(MetricIndexLoadSeconds, metricHelpLoadSeconds, nil, nil),
		startTime: prometheus.NewDesc(MetricStartTimeSeconds, metricHelpStartTime, nil, nil),
		buildInfo: prometheus.NewDesc(MetricBuildInfo, metricHelpBuildInfo,
			[]string{metricLabelVersion, metricLabelRevision, metricLabelGoVersion}, nil),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.items, c.bankItems, c.signals, c.dirBytes, c.gcRuns, c.gcRewrite, c.loadSecs, c.startTime, c.buildInfo} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(c.items, prometheus.GaugeValue, float64(st.Items))
	for bank, n := range st.BankItems {
		ch <- prometheus.MustNewConstMetric(c.bankItems, prometheus.GaugeValue, float64(n), bank)
	}
	for _, t := range mediamatch.MatchTypes() {
		ch <- prometheus.MustNewConstMetric(c.signals, prometheus.GaugeValue, float64(st.Signals[t]), string(t))
	}
	for kind, n := range DataDirUsage(c.dir) {
		ch <- prometheus.MustNewConstMetric(c.dirBytes, prometheus.GaugeValue, float64(n), kind)
	}
	ch <- prometheus.MustNewConstMetric(c.gcRuns, prometheus.CounterValue, float64(st.VlogGCRuns))
	ch <- prometheus.MustNewConstMetric(c.gcRewrite, prometheus.CounterValue, float64(st.VlogGCRewrites))
	ch <- prometheus.MustNewConstMetric(c.loadSecs, prometheus.GaugeValue, c.load.Seconds())
	ch <- prometheus.MustNewConstMetric(c.startTime, prometheus.GaugeValue, float64(c.start.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1, c.build.Version, c.build.Revision, c.build.GoVersion)
}

// DataDirUsage returns the bytes the files under dir take on disk
// (allocated blocks where the system says, else their sizes) by kind: "sst"
// (Badger's tables), "vlog" (its value log) and "other"; each key is
// present. Files that vanish while it walks are skipped.
func DataDirUsage(dir string) map[string]int64 {
	out := map[string]int64{metricDataDirSST: 0, metricDataDirVlog: 0, metricDataDirOther: 0}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		n := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n = st.Blocks * 512 // allocated: Badger preallocates sparse files
		}
		switch filepath.Ext(path) {
		case ".sst":
			out[metricDataDirSST] += n
		case ".vlog":
			out[metricDataDirVlog] += n
		default:
			out[metricDataDirOther] += n
		}
		return nil
	})
	return out
}

// checkMetricsListen refuses a non-loopback metrics address unless a
// bearer token or TLS protects it.
func checkMetricsListen(addr string, token bool, tls bool) error {
	if token || tls {
		return nil
	}
	if err := checkLoopback(addr); err != nil {
		return fmt.Errorf("server: refusing to serve metrics on %q: without a token (--metrics-token) or TLS "+
			"(--metrics-tls-cert, --metrics-tls-key) metrics are served on loopback only", addr)
	}
	return nil
}

// metricsHandler serves m's registry at /metrics, requiring
// "Authorization: Bearer TOKEN" when token is not empty.
func metricsHandler(reg *prometheus.Registry, token string, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogErrorLog{log}})
	mux.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mediamatch metrics"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	return mux
}

type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Warn("metrics", slog.String("err", fmt.Sprint(v...))) }

// serveMetrics serves the metrics on cfg.MetricsListen until ctx is done;
// it returns once listening, with the address, or an error.
func serveMetrics(ctx context.Context, cfg Config, reg *prometheus.Registry, log *slog.Logger) (net.Addr, <-chan struct{}, error) {
	tlsOn := cfg.MetricsTLSCert != ""
	if err := checkMetricsListen(cfg.MetricsListen, cfg.MetricsToken != "", tlsOn); err != nil {
		return nil, nil, err
	}
	lis, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		return nil, nil, fmt.Errorf("server: metrics: %w", err)
	}
	if cfg.MetricsToken == "" && !tlsOn {
		if err := checkMetricsListen(lis.Addr().String(), false, false); err != nil {
			lis.Close()
			return nil, nil, err
		}
	}
	srv := &http.Server{Handler: metricsHandler(reg, cfg.MetricsToken, log), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		if tlsOn {
			err = srv.ServeTLS(lis, cfg.MetricsTLSCert, cfg.MetricsTLSKey)
		} else {
			err = srv.Serve(lis)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", slog.Any("err", err))
		}
	}()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("serving metrics", slog.String("metrics_addr", lis.Addr().String()),
		slog.Bool("metrics_token", cfg.MetricsToken != ""), slog.Bool("metrics_tls", tlsOn))
	return lis.Addr(), done, nil
}
