package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
)

// callRecorder records the methods of the calls a server receives.
type callRecorder struct {
	mu    sync.Mutex
	calls []string // "BankService/AddItemSignals"
}

// options returns the interceptors that record the calls.
func (r *callRecorder) options() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			r.record(info.FullMethod)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			r.record(info.FullMethod)
			return h(srv, ss)
		}),
	}
}

func (r *callRecorder) record(method string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, method[strings.LastIndex(method[:strings.LastIndex(method, "/")], ".")+1:])
}

// writes returns the calls since the last call of writes that change a
// bank's items.
func (r *callRecorder) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var w []string
	for _, c := range r.calls {
		switch c {
		case "BankService/AddItem", "BankService/AddItemStream", "BankService/AddItemSignals",
			"BankService/UpdateItem", "BankService/DeleteItem", "BankService/ImportSignals":
			w = append(w, c)
		}
	}
	r.calls = nil
	return w
}

// TestAddImports checks that add --hashes and add --vpdq change the bank in
// one ImportSignals call, all or nothing and crash-safe, and that a list
// holding an id the bank has already changes nothing.
func TestAddImports(t *testing.T) {
	rec := &callRecorder{}
	addr := startServerOpts(t, rec.options()...)
	tmp := t.TempDir()
	file := func(name, text string) string {
		t.Helper()
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	must := func(args ...string) string { t.Helper(); return mustRun(t, addr, args...) }
	want := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: write calls %q, want %q", what, got, want)
		}
	}
	must("bank", "create", "b")
	must("add", "--bank", "b", "--hashes", file("old.txt", hexA+",90,old.jpg\n"))
	want("add --hashes of one line", rec.writes(), "BankService/ImportSignals")

	// The last line's id is in the bank: refused before anything is written.
	out := run(t, addr, "add", "--bank", "b", "--hashes", file("clash.txt", hexA+",90,one.jpg\n"+hexB+",90,two.jpg\n"+hexB+",80,old.jpg\n"))
	if out.code != 1 || !strings.Contains(out.stderr, "line 3 (old.jpg): already exists") {
		t.Errorf("add --hashes with an existing id on line 3: exit %d, stderr %q, want line 3 named", out.code, out.stderr)
	}
	want("add --hashes with an existing id", rec.writes())
	if got := must("item", "list", "--bank", "b"); strings.Contains(got, "one.jpg") || !strings.Contains(got, "old.jpg") {
		t.Errorf("item list after the refused add = %q, want old.jpg only", got)
	}

	// An item the server refuses (every item here: the label applies to
	// all): the first is named by its line, and nothing is added.
	out = run(t, addr, "add", "--bank", "b", "--label", strings.Repeat("k", 300)+"=v", "--hashes", file("label.txt", hexA+",90,one.jpg\n"+hexB+",90,two.jpg\n"))
	if out.code != 1 || !strings.Contains(out.stderr, "label.txt: line 1 (one.jpg): invalid argument: item.labels: key \"kkkk") {
		t.Errorf("add --hashes with a bad label: exit %d, stderr %q, want line 1 named", out.code, out.stderr)
	}
	want("add --hashes with a bad label", rec.writes(), "BankService/ImportSignals")
	if out := run(t, addr, "item", "get", "--bank", "b", "one.jpg"); out.code != 1 || !strings.Contains(out.stderr, "not found") {
		t.Errorf("item get one.jpg after the refused import: exit %d, stderr %q, want not found", out.code, out.stderr)
	}

	// A good list: one import, and the items as stored, times included.
	got := must("--json", "add", "--bank", "b", "--label", "source=p", "--hashes", file("good.txt", hexA+",90,one.jpg\n"+hexB+"\npdq "+hexA+"\n"))
	want("add --hashes of three lines", rec.writes(), "BankService/ImportSignals")
	for _, w := range []string{`"line":1,"item":{"id":"one.jpg","bank":"b","labels":{"source":"p"}`, `"line":2,"item":{"id":"pdq-5feb5321f01da156","bank":"b"`, `"line":3,`} {
		if !strings.Contains(got, w) {
			t.Errorf("add --json --hashes = %s, want it to hold %s", got, w)
		}
	}
	if strings.Count(got, "\n") != 3 || strings.Count(got, `"create_time":"2`) != 3 {
		t.Errorf("add --json --hashes = %s, want 3 items with their create times", got)
	}

	// add --vpdq: one import too.
	got = must("add", "--bank", "b", "--id", "clip", "--vpdq", file("clip.txt", "0,100,"+hexA+",0.000\n1,100,"+hexB+",1.000\n"))
	want("add --vpdq", rec.writes(), "BankService/ImportSignals")
	if !strings.Contains(got, "added b/clip  video") {
		t.Errorf("add --vpdq = %q, want the video item b/clip", got)
	}
	out = run(t, addr, "add", "--bank", "b", "--id", "clip", "--vpdq", filepath.Join(tmp, "clip.txt"))
	if out.code != 1 || !strings.Contains(out.stderr, `already exists: item "clip" in bank "b"`) {
		t.Errorf("add --vpdq of an existing id: exit %d, stderr %q, want already exists", out.code, out.stderr)
	}
	want("add --vpdq of an existing id", rec.writes())
}
