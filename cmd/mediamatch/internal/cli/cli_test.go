package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	"github.com/mediamatch/mediamatch/server"
)

// startServer runs server.Run on a free loopback port in a temp dir and
// returns its address; it stops with the test.
func startServer(t *testing.T) string {
	t.Helper()
	return startServerOpts(t)
}

// startServerOpts is startServer with extra grpc.ServerOptions.
func startServerOpts(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	dir := t.TempDir() // before the Cleanup below, so removed after the server stops
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{DataDir: dir, Listen: "127.0.0.1:0", ServerOptions: opts,
			Ready: func(a net.Addr) { ready <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server.Run: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a.String()
	case err := <-done:
		done <- err
		t.Fatalf("server.Run: %v", err)
		return ""
	}
}

type output struct {
	code           int
	stdout, stderr string
}

// mustRun is run that fails the test unless the command exits 0, and
// returns its standard output.
func mustRun(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out := run(t, addr, args...)
	if out.code != 0 {
		t.Fatalf("mediamatch %v: exit %d, stderr %q", args, out.code, out.stderr)
	}
	return out.stdout
}

// run runs the command line in process against addr.
func run(t *testing.T, addr string, args ...string) output {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
		if k == EnvServer {
			return addr
		}
		return ""
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	code := a.main(ctx, args)
	return output{code, stdout.String(), stderr.String()}
}

func photoPath(t *testing.T) string {
	t.Helper()
	return mmtest.Shared(t, "media", "images", "skimage", "chelsea.png")
}

// TestHelp checks that every command explains itself with an example.
func TestHelp(t *testing.T) {
	a := &app{getenv: func(string) string { return "" }}
	cmds := a.command().Commands()
	paths := [][]string{{}}
	for _, c := range cmds {
		paths = append(paths, []string{c.Name()})
		for _, sub := range c.Commands() {
			paths = append(paths, []string{c.Name(), sub.Name()})
		}
	}
	if len(paths) < 12 {
		t.Fatalf("found %d commands, want serve, hash, match, add, bank create|list|delete, item get|list|disable|enable|delete", len(paths))
	}
	for _, p := range paths {
		t.Run(strings.Join(append([]string{"mediamatch"}, p...), " "), func(t *testing.T) {
			out := run(t, "127.0.0.1:1", append(p, "--help")...)
			if out.code != 0 {
				t.Fatalf("--help exit %d, stderr %q", out.code, out.stderr)
			}
			for _, want := range []string{"Usage:", "Examples:", "  mediamatch "} {
				if !strings.Contains(out.stdout, want) {
					t.Errorf("--help output lacks %q:\n%s", want, out.stdout)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"match"}, "requires at least 1 arg"},
		{[]string{"match", "--threshold", "phash", "x.jpg"}, `--threshold "phash": want TYPE=BITS`},
		{[]string{"match", "--threshold", "nope=3", "x.jpg"}, "want TYPE=BITS"},
		{[]string{"match", "--signal", "sha1", "x.jpg"}, `--signal "sha1"`},
		{[]string{"add", "x.jpg"}, `required flag(s) "bank"`},
		{[]string{"add", "--bank", "b", "--label", "novalue", "x.jpg"}, `--label "novalue": want KEY=VALUE`},
		{[]string{"add", "--bank", "b", "-"}, "--id is required"},
		{[]string{"bogus"}, "unknown command"},
		{[]string{"match", "--nope", "x"}, "unknown flag"},
		{[]string{"serve", "--log-level", "loud"}, "--log-level"},
		{[]string{"item", "list"}, `required flag(s) "bank"`},
		{[]string{"add", "--bank", "b"}, "want exactly one of FILE, --hashes LIST and --vpdq FILE"},
		{[]string{"add", "--bank", "b", "--hashes", "l.txt", "x.jpg"}, "want exactly one of FILE"},
		{[]string{"add", "--bank", "b", "--hashes", "l.txt", "--vpdq", "v.txt"}, "want exactly one of FILE"},
		{[]string{"add", "--bank", "b", "--hashes", "l.txt", "--id", "x"}, "--id does not apply to --hashes"},
		{[]string{"add", "--bank", "b", "--hashes", "l.txt", "--local-hash"}, "--local-hash hashes a FILE"},
		{[]string{"add", "--bank", "b", "--vpdq", "-"}, "--id is required"},
		{[]string{"hash", "--format", "csv", "x.jpg"}, `--format "csv": want vpdq`},
		{[]string{"hash", "--format", "vpdq", "a.mp4", "b.mp4"}, "--format vpdq takes one FILE, got 2"},
		{[]string{"hash", "--format", "vpdq", "--signal", "phash", "a.mp4"}, "--format vpdq prints PDQ hashes"},
		{[]string{"hash", "--signal", "ahash", "x.jpg"}, `--signal "ahash": want pdq`},
		{[]string{"hash", "--signal", "md5", "x.jpg"}, `--signal "md5": want pdq`},
		{[]string{"--json", "hash", "--signal", "pdq", "x.jpg"}, "--json prints every signal"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := run(t, "127.0.0.1:1", tt.args...)
			if out.code != 2 || !strings.Contains(out.stderr, tt.want) || !strings.HasPrefix(out.stderr, "mediamatch: ") {
				t.Errorf("exit %d, stderr %q; want exit 2 and 'mediamatch: ...%s...'", out.code, out.stderr, tt.want)
			}
		})
	}
}

func TestParseThresholds(t *testing.T) {
	got, err := parseThresholds("--threshold", []string{"phash=10", " DHASH = 5 ", "pdq=31"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[mediamatch.SignalType]int{mediamatch.PHash: 10, mediamatch.DHash: 5, mediamatch.PDQ: 31}
	if len(got) != len(want) {
		t.Fatalf("parseThresholds = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("parseThresholds[%s] = %d, want %d", k, got[k], v)
		}
	}
	for _, bad := range []string{"phash", "phash=", "=3", "phash=x", "sha1=3"} {
		if _, err := parseThresholds("--threshold", []string{bad}); err == nil {
			t.Errorf("parseThresholds(%q) succeeded, want an error", bad)
		}
	}
}

func TestServerUnavailable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	out := run(t, addr, "bank", "list")
	if out.code != 1 || !strings.Contains(out.stderr, "unavailable") || !strings.Contains(out.stderr, addr) ||
		strings.Count(out.stderr, "\n") != 1 {
		t.Errorf("bank list with no server: exit %d, stderr %q; want exit 1 and one line naming the address", out.code, out.stderr)
	}
}

// TestCommands runs the commands against a real server in process.
func TestCommands(t *testing.T) {
	addr := startServer(t)
	photo := photoPath(t)

	must := func(args ...string) string { t.Helper(); return mustRun(t, addr, args...) }
	must("bank", "create", "tve", "--description", "a test bank")
	if out := must("bank", "list"); !strings.Contains(out, "tve") || !strings.Contains(out, "a test bank") {
		t.Errorf("bank list = %q", out)
	}
	if out := must("add", "--bank", "tve", "--label", "entity=cat", photo); !strings.Contains(out, "added tve/chelsea.png") {
		t.Errorf("add = %q", out)
	}
	if out := must("hash", photo); strings.Count(out, "\n")-strings.Count(out, "  view ") != 7 || !strings.Contains(out, "  phash   ") ||
		!regexp.MustCompile(`\n  features: \d+  frame 0\n`).MatchString(out) ||
		!regexp.MustCompile(`\n  pdq     [0-9a-f]{64}  frame 0  quality \d+\n`).MatchString(out) ||
		!regexp.MustCompile(`\n  pdq     [0-9a-f]{64}  frame 0  quality \d+  view region \d+,\d+-\d+,\d+\n`).MatchString(out) {
		t.Errorf("hash = %q, want a summary line, one line per signal (md5, sha256, pdq with quality, phash, dhash), one of features, "+
			"and lines for PDQ views", out)
	}
	if out := must("hash", "--local", photo); !strings.Contains(out, must("hash", photo)) {
		t.Errorf("hash --local = %q, want the same as the server's", out)
	}
	if out := must("item", "get", "--bank", "tve", "chelsea.png"); !strings.Contains(out, "entity=cat") || !strings.Contains(out, "phash") {
		t.Errorf("item get = %q", out)
	}
	if out := must("--json", "item", "list", "--bank", "tve"); !strings.Contains(out, `"id":"chelsea.png"`) {
		t.Errorf("item list --json = %q", out)
	}

	// A file over the 4 MiB unary limit is streamed: the photo padded after
	// its end still decodes to the same picture.
	data, err := os.ReadFile(photo)
	if err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.png")
	if err := os.WriteFile(big, append(data, make([]byte, 5<<20)...), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := must("match", big); !strings.Contains(out, "tve/chelsea.png") {
		t.Errorf("match of a 5 MiB file = %q, want tve/chelsea.png", out)
	}

	// One failing file does not stop the others, and makes the exit 1.
	missing := filepath.Join(t.TempDir(), "missing.jpg")
	out := run(t, addr, "match", missing, photo)
	if out.code != 1 || !strings.HasPrefix(out.stderr, "mediamatch: match "+missing+": ") ||
		!strings.Contains(out.stdout, "tve/chelsea.png") {
		t.Errorf("match missing+photo: exit %d, stdout %q, stderr %q", out.code, out.stdout, out.stderr)
	}
	out = run(t, addr, "match", "--bank", "nope", photo)
	if out.code != 1 || !strings.Contains(out.stderr, "not found") {
		t.Errorf("match --bank nope: exit %d, stderr %q, want not found", out.code, out.stderr)
	}

	must("item", "disable", "--bank", "tve", "chelsea.png")
	if out := must("match", photo); !strings.Contains(out, "no match") {
		t.Errorf("match after disable = %q, want no match", out)
	}
	must("item", "enable", "--bank", "tve", "chelsea.png")
	if out := must("match", "--local-hash", photo); !strings.Contains(out, "tve/chelsea.png") {
		t.Errorf("match --local-hash after enable = %q", out)
	}
	must("item", "delete", "--bank", "tve", "chelsea.png")
	out = run(t, addr, "item", "get", "--bank", "tve", "chelsea.png")
	if out.code != 1 || !strings.Contains(out.stderr, "not found") {
		t.Errorf("item get after delete: exit %d, stderr %q", out.code, out.stderr)
	}
	must("bank", "delete", "tve")
	if out := must("--json", "bank", "list"); out != "" {
		t.Errorf("bank list --json after delete = %q, want nothing", out)
	}
}
