package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// TestServeOps runs `mediamatch serve` in process with settings from the
// environment (JSON logs, metrics on loopback) and checks what an
// operator sees: JSON log lines with stable keys, /metrics with the gRPC
// series, `mediamatch health` SERVING (exit 0) while it runs and failing
// (exit 1) once it has stopped, and `mediamatch version`.
func TestServeOps(t *testing.T) {
	logs := &mmtest.SyncBuffer{}
	env := map[string]string{"MEDIAMATCH_LOG_FORMAT": "json", "MEDIAMATCH_METRICS_LISTEN": "127.0.0.1:0"}
	a := &app{stdout: io.Discard, stderr: logs, getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- a.main(ctx, []string{"serve", "--dev", "--data", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0"})
	}()
	defer func() { cancel(); <-done }()

	// The addresses, from the JSON log.
	var addr, metrics string
	for deadline := time.Now().Add(2 * time.Minute); addr == "" || metrics == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log its addresses:\n%s", logs.String())
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, logs.String())
		default:
		}
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
			}
			switch m["msg"] {
			case "listening":
				addr, _ = m["addr"].(string)
			case "serving metrics":
				metrics, _ = m["metrics_addr"].(string)
			}
		}
	}

	if out := run(t, addr, "health"); out.code != 0 || !strings.Contains(out.stdout, "SERVING") {
		t.Errorf("health: exit %d, %q %q; want 0 and SERVING", out.code, out.stdout, out.stderr)
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 1`,
		"grpc_server_handling_seconds_bucket", "mediamatch_index_items 0", "mediamatch_build_info"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if out := run(t, addr, "version"); out.code != 0 || !strings.Contains(out.stdout, "mediamatch ") || !strings.Contains(out.stdout, "go1.") {
		t.Errorf("version: exit %d, %q", out.code, out.stdout)
	}

	mustRun(t, addr, "bank", "create", "tve")
	if out := mustRun(t, addr, "status"); !strings.Contains(out, "tve") || !strings.Contains(out, "data dir") || !strings.Contains(out, "pdq 0") ||
		!regexp.MustCompile(`(?m)^BANK +ITEMS +PDQ +PHASH +DHASH +MD5 +SHA256 +LOCAL +LAST IMPORT$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^tve +0 +0 +0 +0 +0 +0 +0 +-$`).MatchString(out) {
		t.Errorf("status = %q, want the bank tve with its signals per type, the data dir and the PDQ count", out)
	}
	if out := mustRun(t, addr, "status", "--json"); !strings.Contains(out, `"name":"tve"`) {
		t.Errorf("status --json = %q, want the bank tve", out)
	}

	backup := filepath.Join(t.TempDir(), "mm.backup")
	if out := mustRun(t, addr, "backup", "-o", backup); !strings.Contains(out, "store version") {
		t.Errorf("backup = %q, want the store version", out)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if out := mustRun(t, addr, "restore", "--data", restored, backup); !strings.Contains(out, "0 items in 1 banks") {
		t.Errorf("restore = %q, want 0 items in 1 banks (tve)", out)
	}
	if out := run(t, addr, "restore", "--data", restored, backup); out.code != 1 || !strings.Contains(out.stderr, "not empty") {
		t.Errorf("restore over a store: exit %d, %q; want 1 and \"not empty\"", out.code, out.stderr)
	}

	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d after cancel:\n%s", code, logs.String())
	}
	done <- 0
	if out := run(t, addr, "health", "--timeout", "5s"); out.code != 1 {
		t.Errorf("health of a stopped server: exit %d, %q %q; want 1", out.code, out.stdout, out.stderr)
	}
}
