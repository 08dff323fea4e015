package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pdqList writes n random PDQ hashes in the reference hasher's format, with
// the bad lines given (1-based line number -> text) in between.
func pdqList(t *testing.T, n int, bad map[int]string) string {
	t.Helper()
	var b strings.Builder
	for line, i := 1, 0; i < n || bad[line] != ""; line++ {
		if s, ok := bad[line]; ok {
			b.WriteString(s + "\n")
			continue
		}
		h := make([]byte, 32)
		rand.Read(h)
		fmt.Fprintf(&b, "%s,90,photo-%d.jpg\n", hex.EncodeToString(h), i)
		i++
	}
	file := filepath.Join(t.TempDir(), "list.pdq.txt")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestImportExportCommands(t *testing.T) {
	addr := startServer(t)
	if out := run(t, addr, "bank", "create", "tve"); out.code != 0 {
		t.Fatalf("bank create: %+v", out)
	}
	if out := run(t, addr, "bank", "create", "copy"); out.code != 0 {
		t.Fatalf("bank create: %+v", out)
	}
	list := pdqList(t, 50, map[int]string{3: "abc,90,short.jpg", 10: "nothex,90,x.jpg"})

	out := run(t, addr, "import", "--bank", "tve", list)
	if out.code != 1 || !strings.Contains(out.stderr, "line 3: ") || !strings.Contains(out.stderr, "line 10: ") ||
		!strings.Contains(out.stderr, "--skip-invalid") || out.stdout != "" {
		t.Errorf("import of a list with bad lines: %+v, want exit 1 naming lines 3 and 10 and the --skip-invalid hint", out)
	}

	out = run(t, addr, "import", "--bank", "tve", "--skip-invalid", "--partner", "partner-a", list)
	want := []string{"format: pdq (detected)\n", "bank tve: 50 added, 0 updated, 0 deleted, 0 unchanged, 2 rejected\n",
		"  rejected line 3: ", "  rejected line 10: "}
	for _, w := range want {
		if out.code != 0 || !strings.Contains(out.stdout, w) {
			t.Errorf("import --skip-invalid: %+v, want stdout with %q", out, w)
		}
	}
	if strings.Contains(out.stderr, "\r") {
		t.Errorf("import printed terminal progress to a buffer: %q", out.stderr)
	}

	out = run(t, addr, "--json", "import", "--bank", "tve", "--format", "pdq", "--skip-invalid", "--partner", "partner-a", list)
	var ji jsonImport
	if err := json.Unmarshal([]byte(out.stdout), &ji); err != nil || out.code != 0 {
		t.Fatalf("import --json: %+v: %v", out, err)
	}
	if ji.Format != "pdq" || ji.Detected || ji.Unchanged != 50 || ji.Rejected != 2 || len(ji.Errors) != 2 {
		t.Errorf("import --json again = %+v, want pdq given, 50 unchanged, 2 rejected", ji)
	}

	// Export to a file, import it into another bank: the same items.
	file := filepath.Join(t.TempDir(), "tve.jsonl")
	out = run(t, addr, "export", "--bank", "tve", "-o", file)
	if out.code != 0 || !strings.Contains(out.stdout, "exported 50 items of bank tve as jsonl to "+file) {
		t.Fatalf("export -o: %+v, want a summary of 50 items", out)
	}
	out = run(t, addr, "--json", "import", "--bank", "copy", file)
	if err := json.Unmarshal([]byte(out.stdout), &ji); err != nil || ji.Added != 50 || ji.Format != "jsonl" || !ji.Detected {
		t.Errorf("import of the export: %+v (%v), want 50 added from jsonl, detected", out, err)
	}
	a := run(t, addr, "item", "list", "--bank", "tve").stdout
	b := run(t, addr, "item", "list", "--bank", "copy").stdout
	if strings.ReplaceAll(a, "tve/", "copy/") != b || strings.Count(a, "\n") != 50 {
		t.Errorf("item list of the copy:\n%s\nwant that of the original:\n%s", b, a)
	}

	// item list --json prints the records export writes, which import reads.
	listed := run(t, addr, "--json", "item", "list", "--bank", "tve").stdout
	if exported, err := os.ReadFile(file); err != nil || listed != string(exported) {
		t.Errorf("item list --json:\n%s\nwant the jsonl export:\n%s (%v)", listed, exported, err)
	}
	listFile := filepath.Join(t.TempDir(), "listed.jsonl")
	if err := os.WriteFile(listFile, []byte(listed), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, addr, "bank", "create", "relisted")
	out = run(t, addr, "--json", "import", "--bank", "relisted", listFile)
	if err := json.Unmarshal([]byte(out.stdout), &ji); err != nil || ji.Added != 50 || ji.Format != "jsonl" {
		t.Errorf("import of item list --json: %+v (%v), want 50 added from jsonl", out, err)
	}

	// To stdout, as a partner format; the summary goes to stderr.
	out = run(t, addr, "export", "--bank", "tve", "--format", "pdq")
	if out.code != 0 || strings.Count(out.stdout, "\n") != 50 || !strings.Contains(out.stderr, "exported 50 items") {
		t.Errorf("export --format pdq: %+v, want 50 lines on stdout and the summary on stderr", out)
	}
	out = run(t, addr, "export", "--bank", "tve", "--format", "tcap", "-o", filepath.Join(t.TempDir(), "x"))
	if out.code != 1 || !strings.Contains(out.stderr, `"tcap"`) || !strings.Contains(out.stderr, "te-updates") {
		t.Errorf("export --format tcap: %+v, want a failure listing the writable formats", out)
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("export left files behind: %v", entries)
	}
	out = run(t, addr, "export", "--bank", "nope")
	if out.code != 1 || !strings.Contains(out.stderr, "not found") {
		t.Errorf("export of a missing bank: %+v, want not found", out)
	}
}

func TestProgress(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	const mib = 1 << 20

	var tty bytes.Buffer
	p := newProgress(&tty, true, now, "import x", "bytes", 40*mib)
	for i := range 10 {
		clock = clock.Add(time.Second)
		p.update(int64(i+1) * 2 * mib)
	}
	p.finish("done")
	lines := strings.Split(tty.String(), "\r")
	if len(lines) != 12 || !strings.HasSuffix(tty.String(), "\n") {
		t.Fatalf("terminal progress %q, want 11 redraws and a newline", tty.String())
	}
	if got, want := lines[5], "import x: [######..................] 10.0 MiB of 40.0 MiB (25%), 2.0 MiB/s, 15s left"; strings.TrimRight(got, " ") != want {
		t.Errorf("redraw 5 = %q, want %q", got, want)
	}

	var log bytes.Buffer
	p = newProgress(&log, false, now, "import x", "bytes", 0)
	for i := range 10 {
		clock = clock.Add(500 * time.Millisecond)
		p.update(int64(i+1) * mib)
	}
	p.finish("done")
	if got := strings.Count(log.String(), "\n"); got != 2 || strings.Contains(log.String(), "\r") {
		t.Errorf("plain progress over 5s:\n%s\nwant 2 lines (one per 2 seconds), no \\r", log.String())
	}
	if !strings.Contains(log.String(), "import x: 4.0 MiB, 2.0 MiB/s\n") {
		t.Errorf("plain progress:\n%s\nwant the first line at 2s", log.String())
	}
}

func TestFormatETA(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{8 * time.Second, "8s"}, {200 * time.Second, "3m20s"}, {65 * time.Minute, "1h05m"}} {
		if got := formatETA(tt.d); got != tt.want {
			t.Errorf("formatETA(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
