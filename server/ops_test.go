package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
)

// opsRun is a Run on loopback started by startOps.
type opsRun struct {
	addr, metrics net.Addr
	conn          *grpc.ClientConn
	logs          *mmtest.SyncBuffer
	stop          func() error // cancels Run's context and returns Run's result; conn stays open
}

// startOps runs Run with cfg on a free loopback port (cfg.Logger, when
// nil, logs at debug level to opsRun.logs) and waits until it serves.
func startOps(t testing.TB, cfg Config) *opsRun {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &opsRun{logs: &mmtest.SyncBuffer{}}
	ready, metricsReady := make(chan net.Addr, 1), make(chan net.Addr, 1)
	done := make(chan error, 1)
	if cfg.Logger == nil {
		cfg.Logger = slogTo(r.logs)
	}
	cfg.Listen, cfg.Ready = "127.0.0.1:0", func(a net.Addr) { ready <- a }
	if cfg.MetricsListen != "" {
		cfg.MetricsReady = func(a net.Addr) { metricsReady <- a }
	}
	go func() { done <- Run(ctx, cfg) }()
	select {
	case r.addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v\n%s", err, r.logs.String())
	}
	if cfg.MetricsListen != "" {
		r.metrics = <-metricsReady
	}
	var err error
	if r.conn, err = grpc.NewClient(r.addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	var once bool
	r.stop = func() error {
		if once {
			return nil
		}
		once = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute):
			t.Fatal("Run did not return within a minute of cancel")
			return nil
		}
	}
	t.Cleanup(func() { r.conn.Close(); r.stop() })
	return r
}

// scrape returns the metric families served at addr's /metrics.
func scrape(t *testing.T, addr net.Addr, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr.String()+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metricValue returns the sum of the values (counter, gauge, or a
// histogram's count) of the series of family name whose labels include
// want, and how many series matched.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, int) {
	f := fams[name]
	if f == nil {
		return 0, 0
	}
	var sum float64
	n := 0
series:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue series
			}
		}
		n++
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, n
}

// fakeMP4 is a file whose first bytes say MP4 but that no decoder can
// read: hashing it runs ffmpeg, which fails.
func fakeMP4() []byte {
	return append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), bytes.Repeat([]byte{0xde, 0xad}, 4096)...)
}

// TestMetricsScrape makes real calls on a real server (Run, Badger in a
// temp dir, ffmpeg) and scrapes /metrics: each series has the labels and
// counts the calls made.
func TestMetricsScrape(t *testing.T) {
	ff := mmtest.FFmpeg(t)
	dir := t.TempDir()
	r := startOps(t, Config{DataDir: dir, FFmpeg: ff, MetricsListen: "127.0.0.1:0"})
	ctx := t.Context()
	bank, match, hash := pb.NewBankServiceClient(r.conn), pb.NewMatchServiceClient(r.conn), pb.NewHashServiceClient(r.conn)

	// Before any call, the series of every method exist at 0.
	fams := scrape(t, r.metrics, "")
	if v, n := metricValue(fams, "grpc_server_handled_total", map[string]string{"grpc_method": "MatchMedia", "grpc_code": "OK"}); n != 1 || v != 0 {
		t.Errorf("before calls: grpc_server_handled_total{MatchMedia,OK} = %v in %d series, want 0 in 1", v, n)
	}

	img := readMedia(t, chelsea)
	if _, err := bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "cat"},
		Source: &pb.AddItemRequest_Content{Content: img}}); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	for range 2 {
		resp, err := match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: img})
		if err != nil || len(resp.GetMatches()) != 1 {
			t.Fatalf("MatchMedia = %v, %v; want 1 match", resp.GetMatches(), err)
		}
	}
	if _, err := bank.GetBank(ctx, &pb.GetBankRequest{Name: "absent"}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetBank(absent) = %v, want NotFound", err)
	}
	if _, err := bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "partner"}}); err != nil {
		t.Fatal(err)
	}
	list := append(pdqList(pdqHex(t, 3)), "not-a-hash,50,bad.jpg\n"...)
	resp, err := importList(ctx, bank, &pb.ImportSignalsRequest{Bank: "partner", Format: "pdq", SkipInvalid: true}, list, 40)
	if err != nil || resp.GetAdded() != 3 || resp.GetRejected() != 1 {
		t.Fatalf("ImportSignals = %v, %v; want 3 added, 1 rejected", resp, err)
	}
	if _, err := hash.HashMedia(ctx, &pb.HashMediaRequest{Content: fakeMP4()}); err == nil {
		t.Fatal("HashMedia(fake MP4) succeeded, want an ffmpeg failure")
	}

	fams = scrape(t, r.metrics, "")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"grpc_server_handled_total", map[string]string{"grpc_service": "mediamatch.v1.MatchService", "grpc_method": "MatchMedia", "grpc_code": "OK"}, 2},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "mediamatch.v1.BankService", "grpc_method": "GetBank", "grpc_code": "NotFound"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_method": "ImportSignals", "grpc_type": "client_stream", "grpc_code": "OK"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_method": "HashMedia", "grpc_code": "OK"}, 0},
		{"grpc_server_started_total", map[string]string{"grpc_method": "AddItem"}, 1},
		{"grpc_server_handling_seconds", map[string]string{"grpc_method": "MatchMedia"}, 2},
		{MetricMatchSeconds, map[string]string{"call": "media"}, 2},
		{MetricSearchSeconds, map[string]string{"type": "pdq"}, 2}, // PDQ is the only perceptual type searched by default
		{MetricSearchSeconds, map[string]string{"type": "phash"}, 0},
		{MetricMatches, map[string]string{"bank": "tve"}, 2},
		{MetricHashSeconds, map[string]string{"kind": "image"}, 3},
		{MetricHashFailures, map[string]string{"kind": "video"}, 1},
		{MetricFFmpegFailures, nil, 1},
		{MetricFFmpegSeconds, nil, 1}, // the one run, failed
		{MetricImportBytes, nil, float64(len(list))},
		{MetricImportItems, map[string]string{"bank": "partner", "result": "added"}, 3},
		{MetricImportItems, map[string]string{"bank": "partner", "result": "rejected"}, 1},
		{MetricIndexItems, nil, 4},
		{MetricBankItems, map[string]string{"bank": "tve"}, 1},
		{MetricBankItems, map[string]string{"bank": "partner"}, 3},
		{MetricBuildInfo, nil, 1},
	} {
		if got, n := metricValue(fams, c.name, c.labels); got != c.want || n == 0 {
			t.Errorf("%s%v = %v (%d series), want %v", c.name, c.labels, got, n, c.want)
		}
	}
	if got, n := metricValue(fams, MetricFFmpegCPU, nil); n != 1 || got <= 0 {
		t.Errorf("%s = %v (%d series), want the CPU time of the one ffmpeg run, above 0", MetricFFmpegCPU, got, n)
	}
	if got, _ := metricValue(fams, MetricIndexSignals, map[string]string{"type": "pdq"}); got < 4 {
		t.Errorf("%s{type=pdq} = %v, want at least 4 (3 imported, 1 added)", MetricIndexSignals, got)
	}
	if got, _ := metricValue(fams, MetricImportLast, map[string]string{"bank": "partner"}); got < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("%s{bank=partner} = %v, want the time of the import", MetricImportLast, got)
	}
	if got, n := metricValue(fams, MetricDataDirBytes, nil); got <= 0 || n != 3 {
		t.Errorf("%s = %v in %d series, want > 0 in 3 (sst, vlog, other)", MetricDataDirBytes, got, n)
	}
	for _, name := range []string{MetricVlogGCRuns, MetricVlogGCRewrites} {
		if _, n := metricValue(fams, name, nil); n != 1 {
			t.Errorf("%s in %d series, want 1", name, n)
		}
	}
	if _, n := metricValue(fams, "go_goroutines", nil); n != 1 {
		t.Errorf("go_goroutines missing: the Go collector is not registered")
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestMetricsVlogGC runs a value-log GC round on a real index and finds
// it counted in the collector that Run registers.
func TestMetricsVlogGC(t *testing.T) {
	dir := t.TempDir()
	ix, err := index.Open(dir, index.Options{VlogGCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStatsCollector(ix.Stats, dir, 0, time.Now(), BuildInfo{}))
	for round := range 2 {
		if _, err := ix.RunValueLogGC(t.Context()); err != nil {
			t.Fatalf("RunValueLogGC = %v", err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		fams := map[string]*dto.MetricFamily{}
		for _, f := range mfs {
			fams[f.GetName()] = f
		}
		if got, n := metricValue(fams, MetricVlogGCRuns, nil); got != float64(round+1) || n != 1 {
			t.Errorf("after %d rounds: %s = %v in %d series, want %d in 1", round+1, MetricVlogGCRuns, got, n, round+1)
		}
		if _, n := metricValue(fams, MetricVlogGCRewrites, nil); n != 1 {
			t.Errorf("%s in %d series, want 1", MetricVlogGCRewrites, n)
		}
	}
}

func TestMetricsListenRefused(t *testing.T) {
	for _, c := range []struct {
		addr, token, cert, key string
		ok                     bool
	}{
		{addr: "127.0.0.1:0", ok: true},
		{addr: "[::1]:9090", ok: true},
		{addr: "0.0.0.0:9090"},
		{addr: ":9090"},
		{addr: "192.0.2.1:9090"},
		{addr: "0.0.0.0:9090", token: "s3cret", ok: true},
		{addr: "0.0.0.0:9090", cert: "c.pem", key: "k.pem", ok: true},
	} {
		err := checkMetricsListen(c.addr, c.token != "", c.cert != "")
		if (err == nil) != c.ok {
			t.Errorf("checkMetricsListen(%q, token %v, tls %v) = %v, want ok %v", c.addr, c.token != "", c.cert != "", err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), c.addr) {
			t.Errorf("error %q does not name the address %q", err, c.addr)
		}
	}
	// Run refuses before it creates the data dir.
	dir := filepath.Join(t.TempDir(), "data")
	if err := Run(t.Context(), Config{DataDir: dir, MetricsListen: "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "0.0.0.0:0") {
		t.Errorf("Run(MetricsListen: 0.0.0.0:0) = %v, want an error naming the address", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("Run created the data dir before refusing the metrics address")
	}
}

func TestMetricsToken(t *testing.T) {
	r := startOps(t, Config{DataDir: t.TempDir(), MetricsListen: "127.0.0.1:0", MetricsToken: "metrics-s3cret"})
	for _, c := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"metrics-s3cret", http.StatusUnauthorized},
		{"Bearer metrics-s3cret", http.StatusOK},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+r.metrics.String()+"/metrics", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET /metrics with Authorization %q = %d, want %d", c.auth, resp.StatusCode, c.want)
		}
	}
	if strings.Contains(r.logs.String(), "metrics-s3cret") {
		t.Errorf("the metrics token is in the log:\n%s", r.logs.String())
	}
}

// TestLogsKeepSecretsOut runs a server that requires authentication with
// a JSON log at info level, makes calls carrying canaries (a token
// secret, a wrong secret, query hashes, media bytes, a partner list), and
// checks that no canary reaches the log, and that every line is one JSON
// object with the stable keys time, level and msg.
func TestLogsKeepSecretsOut(t *testing.T) {
	dir := t.TempDir()
	logs := &mmtest.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r := startOps(t, Config{DataDir: dir, FFmpeg: ffmpegPath(), Auth: true, Logger: log, MetricsListen: "127.0.0.1:0"})
	ctx := t.Context()
	boot, err := os.ReadFile(filepath.Join(dir, BootstrapTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	admin := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(boot)))
	tok, err := pb.NewAdminServiceClient(r.conn).CreateToken(admin, &pb.CreateTokenRequest{Name: "curator", Role: pb.Role_ROLE_CURATOR})
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	secret := tok.GetSecret()
	cur := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)

	rnd := make([]byte, 8)
	rand.Read(rnd)
	mediaMark := "MEDIA-CANARY-" + hex.EncodeToString(rnd)
	wrong := "mm_wrongsecret_" + hex.EncodeToString(rnd)
	queryHash := make([]byte, 32)
	rand.Read(queryHash)
	listHash := pdqHex(t, 1)[0]

	bank, match := pb.NewBankServiceClient(r.conn), pb.NewMatchServiceClient(r.conn)
	if _, err := bank.CreateBank(cur, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	img := append(readMedia(t, chelsea), mediaMark...)
	if _, err := bank.AddItem(cur, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "cat"},
		Source: &pb.AddItemRequest_Content{Content: img}}); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	if _, err := match.MatchMedia(cur, &pb.MatchMediaRequest{Content: img}); err != nil {
		t.Fatalf("MatchMedia: %v", err)
	}
	match.MatchMedia(cur, &pb.MatchMediaRequest{Content: append(fakeMP4(), mediaMark...)}) // fails in ffmpeg
	if _, err := match.MatchSignals(cur, &pb.MatchSignalsRequest{Media: &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_IMAGE,
		Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{{Type: pb.SignalType_SIGNAL_TYPE_PDQ, Hash: queryHash, Quality: 100}}}}}}); err != nil {
		t.Fatalf("MatchSignals: %v", err)
	}
	if _, err := importList(cur, bank, &pb.ImportSignalsRequest{Bank: "tve", Format: "pdq"}, pdqList([]string{listHash}), 1<<10); err != nil {
		t.Fatalf("ImportSignals: %v", err)
	}
	bad := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+wrong)
	if _, err := bank.ListBanks(bad, &pb.ListBanksRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListBanks with a wrong secret = %v, want Unauthenticated", err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	out := logs.String()
	for what, canary := range map[string]string{
		"token secret": secret, "bootstrap secret": strings.TrimSpace(string(boot)), "wrong secret": wrong,
		"media bytes": mediaMark, "query hash (hex)": hex.EncodeToString(queryHash),
		"query hash (HEX)": strings.ToUpper(hex.EncodeToString(queryHash)), "list hash": listHash,
	} {
		if strings.Contains(out, canary) {
			t.Errorf("the log holds the %s %q", what, canary)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("log has %d lines, want the start and stop events:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("log line is not JSON: %v: %s", err, l)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line lacks %q: %s", k, l)
			}
		}
	}
	for _, msg := range []string{`"msg":"listening"`, `"msg":"stopped"`} {
		if !strings.Contains(out, msg) {
			t.Errorf("log lacks %s", msg)
		}
	}
}

// TestHealthLoadAndDrain follows grpc.health.v1 through a server's life:
// NOT_SERVING on its address while the index loads (held open by a hook),
// SERVING once loaded, NOT_SERVING as soon as its context is cancelled
// (SIGTERM in `mediamatch serve`) while a streamed upload is in flight;
// the upload then completes, and Run returns.
func TestHealthLoadAndDrain(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	hold := make(chan struct{})
	listening := make(chan net.Addr, 1)
	r := func() *opsRun {
		// startOps waits for Ready, which comes after the load: start
		// it in the background and look at the address meanwhile.
		got := make(chan *opsRun, 1)
		go func() {
			got <- startOps(t, Config{DataDir: dir, FFmpeg: ffmpegPath(),
				Listening: func(a net.Addr) { listening <- a }, beforeOpen: func() { <-hold }})
		}()
		addr := <-listening
		conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		hc := healthpb.NewHealthClient(conn)
		for _, name := range append(ServiceNames(), "") {
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Errorf("while loading: health %q = %v, %v; want NOT_SERVING", name, resp.GetStatus(), err)
			}
		}
		if _, err := pb.NewBankServiceClient(conn).ListBanks(ctx, &pb.ListBanksRequest{}); status.Code(err) != codes.Unimplemented {
			t.Errorf("while loading: ListBanks = %v, want Unimplemented (only health is served)", err)
		}
		close(hold)
		return <-got
	}()

	hc := healthpb.NewHealthClient(r.conn)
	for _, name := range append(ServiceNames(), "") {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("after load: health %q = %v, %v; want SERVING", name, resp.GetStatus(), err)
		}
	}
	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch = %v, %v; want SERVING", st.GetStatus(), err)
	}

	// An upload in flight: its first chunk is sent, the rest comes after
	// the drain has begun.
	img := readMedia(t, chelsea)
	stream, err := pb.NewHashServiceClient(r.conn).HashMediaStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	half := len(img) / 2
	if err := stream.Send(&pb.HashMediaStreamRequest{Chunk: img[:half]}); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()

	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("after cancel: Watch = %v, %v; want NOT_SERVING", st.GetStatus(), err)
	}
	// Wait until the server refuses new calls (GracefulStop has begun)
	// before the upload goes on, so that it completes during the drain.
	for deadline := time.Now().Add(time.Minute); ; {
		if time.Now().After(deadline) {
			t.Fatal("a new connection was still served a minute after cancel")
		}
		c, err := grpc.NewClient(r.addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = healthpb.NewHealthClient(c).Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		c.Close()
		if err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while an upload was in flight", err)
	default:
	}
	if err := stream.Send(&pb.HashMediaStreamRequest{Chunk: img[half:]}); err != nil {
		t.Fatalf("sending the rest of the in-flight upload: %v", err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil || len(resp.GetMedia().GetKeyframes()) == 0 {
		t.Fatalf("in-flight upload after the drain began = %v, %v; want its signals", resp, err)
	}
	r.conn.Close() // ends the Watch, the last call in flight
	if err := <-stopped; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if logs := r.logs.String(); !strings.Contains(logs, "draining") || strings.Contains(logs, "calls still running after") {
		t.Errorf("log of the drain: want \"draining\" and no call cut off:\n%s", logs)
	}
}

// TestServerStatus checks GetServerStatus on a real server: the build it
// was given, start and load times, data dir size, items per bank with the
// last import of the bank imported into, signals per type; a token
// limited to one bank sees that bank only and no totals of others.
func TestServerStatus(t *testing.T) {
	dir := t.TempDir()
	build := BuildInfo{Version: "v9.9.9-test", Revision: "0123456789abcdef", GoVersion: "go1.test"}
	before := time.Now()
	r := startOps(t, Config{DataDir: dir, FFmpeg: ffmpegPath(), Auth: true, Build: &build})
	ctx := t.Context()
	boot, err := os.ReadFile(filepath.Join(dir, BootstrapTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	admin := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(boot)))
	bank, adm := pb.NewBankServiceClient(r.conn), pb.NewAdminServiceClient(r.conn)
	for _, name := range []string{"tve", "partner"} {
		if _, err := bank.CreateBank(admin, &pb.CreateBankRequest{Bank: &pb.Bank{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bank.AddItem(admin, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "cat"},
		Source: &pb.AddItemRequest_Content{Content: readMedia(t, chelsea)}}); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	if _, err := importList(admin, bank, &pb.ImportSignalsRequest{Bank: "partner", Format: "pdq"}, pdqList(pdqHex(t, 5)), 1<<10); err != nil {
		t.Fatalf("ImportSignals: %v", err)
	}

	st, err := adm.GetServerStatus(admin, &pb.GetServerStatusRequest{})
	if err != nil {
		t.Fatalf("GetServerStatus: %v", err)
	}
	if st.GetVersion() != build.Version || st.GetRevision() != build.Revision || st.GetGoVersion() != build.GoVersion {
		t.Errorf("build = %q %q %q, want %+v", st.GetVersion(), st.GetRevision(), st.GetGoVersion(), build)
	}
	if st.GetFfmpegVersion() == "" {
		t.Error("ffmpeg_version empty")
	}
	if s := st.GetStartTime().AsTime(); s.Before(before.Add(-time.Second)) || s.After(time.Now()) {
		t.Errorf("start_time = %v, want between the test's start and now", s)
	}
	if st.GetIndexLoadMillis() < 0 || st.GetDataDirBytes() <= 0 {
		t.Errorf("index_load_millis = %d, data_dir_bytes = %d; want >= 0 and > 0", st.GetIndexLoadMillis(), st.GetDataDirBytes())
	}
	if st.GetItems() != 6 {
		t.Errorf("items = %d, want 6", st.GetItems())
	}
	got := map[string]*pb.BankStatus{}
	for _, b := range st.GetBanks() {
		got[b.GetName()] = b
	}
	if got["tve"].GetItems() != 1 || got["tve"].GetLastImportTime() != nil {
		t.Errorf("tve = %v, want 1 item and no import", got["tve"])
	}
	if got["partner"].GetItems() != 5 || got["partner"].GetLastImportTime() == nil ||
		got["partner"].GetLastImportTime().AsTime().Before(before.Add(-time.Second)) {
		t.Errorf("partner = %v, want 5 items and the import's time", got["partner"])
	}
	var pdq int64
	for _, s := range st.GetSignals() {
		if s.GetType() == pb.SignalType_SIGNAL_TYPE_PDQ {
			pdq = s.GetCount()
		}
	}
	if len(st.GetSignals()) != 6 || pdq < 6 {
		t.Errorf("signals = %v, want 6 types (5 and local) and at least 6 PDQ", st.GetSignals())
	}
	// Signals per bank and type: the partner list's 5 PDQ hashes and
	// nothing else; per type, the banks add up to the totals.
	bankSigs := func(b *pb.BankStatus) map[pb.SignalType]int64 {
		m := map[pb.SignalType]int64{}
		for _, s := range b.GetSignals() {
			m[s.GetType()] += s.GetCount()
		}
		return m
	}
	if ps := bankSigs(got["partner"]); len(got["partner"].GetSignals()) != 6 || ps[pb.SignalType_SIGNAL_TYPE_PDQ] != 5 ||
		ps[pb.SignalType_SIGNAL_TYPE_PHASH]+ps[pb.SignalType_SIGNAL_TYPE_DHASH]+ps[pb.SignalType_SIGNAL_TYPE_LOCAL] != 0 {
		t.Errorf("partner signals = %v, want 6 types, 5 PDQ and no pHash, dHash or local features", got["partner"].GetSignals())
	}
	if ts := bankSigs(got["tve"]); ts[pb.SignalType_SIGNAL_TYPE_PDQ] < 1 || ts[pb.SignalType_SIGNAL_TYPE_PHASH] < 1 {
		t.Errorf("tve signals = %v, want at least 1 PDQ and 1 pHash (the cat)", got["tve"].GetSignals())
	}
	for _, total := range st.GetSignals() {
		var sum int64
		for _, b := range st.GetBanks() {
			sum += bankSigs(b)[total.GetType()]
		}
		if sum != total.GetCount() {
			t.Errorf("%v: banks' signals sum to %d, total %d", total.GetType(), sum, total.GetCount())
		}
	}
	tveSigs := bankSigs(got["tve"])

	// A token limited to "tve" sees that bank only.
	tok, err := adm.CreateToken(admin, &pb.CreateTokenRequest{Name: "tve-admin", Role: pb.Role_ROLE_ADMIN, Banks: []string{"tve"}})
	if err != nil {
		t.Fatal(err)
	}
	scoped := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok.GetSecret())
	st, err = adm.GetServerStatus(scoped, &pb.GetServerStatusRequest{})
	if err != nil {
		t.Fatalf("GetServerStatus (limited): %v", err)
	}
	if len(st.GetBanks()) != 1 || st.GetBanks()[0].GetName() != "tve" || st.GetItems() != 1 || len(st.GetSignals()) != 0 || st.GetDataDirBytes() != 0 {
		t.Errorf("limited to tve: banks %v, items %d, signals %v, data dir %d; want tve only, 1 item, no totals",
			st.GetBanks(), st.GetItems(), st.GetSignals(), st.GetDataDirBytes())
	} else if ts := bankSigs(st.GetBanks()[0]); !maps.Equal(ts, tveSigs) {
		t.Errorf("limited to tve: tve signals %v, want %v as the admin saw them", ts, tveSigs)
	}
	// A curator may not ask.
	cur, err := adm.CreateToken(admin, &pb.CreateTokenRequest{Name: "cur", Role: pb.Role_ROLE_CURATOR})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.GetServerStatus(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cur.GetSecret()),
		&pb.GetServerStatusRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetServerStatus as curator = %v, want PermissionDenied", err)
	}
}
