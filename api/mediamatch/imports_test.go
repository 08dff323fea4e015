package mediamatch

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The import rules of issue 12: the domain package imports only the
// standard library, and the client library and the API packages link no
// media decoder, no store, no cgo and none of the server's packages.

const module = "github.com/mediamatch/mediamatch"

// forbidden lists the import path prefixes that ./client and ./api/...
// must not depend on, with why.
var forbidden = []struct{ prefix, what string }{
	{"github.com/dgraph-io/", "Badger"},
	{"github.com/u2takey/", "ffmpeg-go"},
	{"github.com/aws/aws-sdk-go", "aws-sdk-go"},
	{"github.com/corona10/", "goimagehash"},
	{"golang.org/x/image", "golang.org/x/image"},
	{module + "/fingerprint", "the media decoders (fingerprint)"},
	{module + "/index", "the store (index)"},
	{module + "/server", "the gRPC server"},
}

// dep is one line of go list -deps.
type dep struct {
	path     string
	standard bool
	cgoFiles int
}

// goList returns the dependencies of pkgs (patterns relative to the module
// root), the packages themselves included. It fails the test if go list
// fails.
func goList(t *testing.T, pkgs ...string) []dep {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{len .CgoFiles}}"}, pkgs...)
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Stderr = new(strings.Builder)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, cmd.Stderr)
	}
	var deps []dep
	for line := range strings.Lines(string(out)) {
		var d dep
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("go list printed %q, want path, standard, cgo file count", line)
		}
		d.path, d.standard = f[0], f[1] == "true"
		if f[2] != "0" {
			d.cgoFiles = 1
		}
		deps = append(deps, d)
	}
	return deps
}

// goTool returns the go command of the toolchain running the test, or the
// one on PATH.
func goTool(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	return p
}

// TestImports checks the import rules with go list.
func TestImports(t *testing.T) {
	t.Run("domain", func(t *testing.T) {
		var bad []string
		for _, d := range goList(t, "./api/mediamatch") {
			if !d.standard && d.path != module+"/api/mediamatch" {
				bad = append(bad, d.path)
			}
		}
		if len(bad) > 0 {
			t.Errorf("api/mediamatch depends on %s; want the standard library only", strings.Join(bad, ", "))
		}
	})
	t.Run("client and api", func(t *testing.T) {
		var bad []string
		for _, d := range goList(t, "./client", "./api/...") {
			for _, f := range forbidden {
				if strings.HasPrefix(d.path, f.prefix) && !slices.Contains(bad, f.what) {
					bad = append(bad, f.what)
				}
			}
			// The standard library's cgo files (net, os/user, runtime/cgo)
			// have pure Go twins; the "no cgo" subtest builds without them.
			if !d.standard && d.cgoFiles > 0 {
				bad = append(bad, d.path+" (cgo)")
			}
		}
		if len(bad) > 0 {
			t.Errorf("./client and ./api/... depend on %s; want none of them", strings.Join(bad, ", "))
		}
	})
	t.Run("no cgo", func(t *testing.T) {
		if testing.Short() {
			t.Skip("runs go build")
		}
		cmd := exec.Command(goTool(t), "build", "./client", "./api/...")
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("CGO_ENABLED=0 go build ./client ./api/...: %v\n%s", err, out)
		}
	})
}
