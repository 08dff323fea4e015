package mediamatch

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The import rules that the package docs state, checked with go list: the
// domain package imports only the standard library; the client library and
// the API packages link no media decoder, no store, no cgo and none of the
// server's packages; each engine and layer reaches only what is below it;
// and nothing but the command imports the command line.

const module = "github.com/mediamatch/mediamatch"

// Forbidden dependencies, as go list patterns: "x/..." is x and every
// package under it.
const (
	badger      = "github.com/dgraph-io/..."
	ffmpegGo    = "github.com/u2takey/..."
	awsSDK      = "github.com/aws/aws-sdk-go/..."
	goimagehash = "github.com/corona10/..."
	xImage      = "golang.org/x/image/..."
	grpc        = "google.golang.org/grpc/..."
	fingerprint = module + "/fingerprint/..."
	index       = module + "/index/..."
	server      = module + "/server/..."
	client      = module + "/client/..."
	cmd         = module + "/cmd/..."
	cli         = module + "/cmd/mediamatch/internal/cli"
	anyOurs     = module + "/..."
)

// rule is one import rule: the packages it is about, what none of their
// dependencies may be, and why.
type rule struct {
	name   string
	pkgs   []string // go list patterns of the packages the rule is about
	except []string // patterns of packages among pkgs that the rule leaves out
	// forbid are patterns that no dependency may match; stdOnly forbids
	// every dependency outside the standard library.
	forbid  []string
	stdOnly bool
	noCgo   bool // no dependency outside the standard library has cgo files
	tests   bool // the packages' test imports count as dependencies too
	why     string
}

var rules = []rule{
	{
		name:    "domain",
		pkgs:    []string{module + "/api/mediamatch"},
		stdOnly: true,
		why:     "the domain is the ground floor that every package imports; it imports nothing, so it links no decoder, store or transport",
	},
	{
		name:   "client and api",
		pkgs:   []string{module + "/client", module + "/api/..."},
		forbid: []string{badger, ffmpegGo, awsSDK, goimagehash, xImage, fingerprint, index, server},
		noCgo:  true,
		why:    "a program that only calls the service links no media decoder, no store, none of the server and no cgo, and builds with CGO_ENABLED=0",
	},
	{
		name:   "engines",
		pkgs:   []string{module + "/index/hamming", module + "/fingerprint/pdq", module + "/fingerprint/hostile"},
		forbid: []string{anyOurs},
		why:    "an engine (the Hamming search, PDQ) or a test-file maker stands alone, with its own conformance tests, below everything that uses it",
	},
	{
		name:   "index",
		pkgs:   []string{module + "/index/..."},
		forbid: []string{fingerprint, server, cmd, client, grpc},
		why:    "the index stores signals whoever made them and knows no transport: its errors are sentinels that the server maps to gRPC codes",
	},
	{
		name:   "fingerprint",
		pkgs:   []string{module + "/fingerprint/..."},
		forbid: []string{index, server, cmd, client, grpc},
		why:    "fingerprinting is media in, signals out, whoever stores or sends them",
	},
	{
		name:   "server",
		pkgs:   []string{module + "/server/..."},
		forbid: []string{cmd, client},
		why:    "the server does not depend on its callers",
	},
	{
		name:   "command line",
		pkgs:   []string{anyOurs},
		except: []string{cmd},
		forbid: []string{cli},
		tests:  true,
		why:    "the command line sits on top of everything; only the command wires it to a process",
	},
}

// pkg is one package as go list -json prints it.
type pkg struct {
	ImportPath   string
	Standard     bool
	CgoFiles     []string
	Deps         []string
	TestImports  []string
	XTestImports []string
	Error        *struct{ Err string }
}

// match reports whether the import path p matches the go list pattern pat.
func match(pat, p string) bool {
	if base, ok := strings.CutSuffix(pat, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == pat
}

func matchAny(pats []string, p string) bool {
	return slices.ContainsFunc(pats, func(pat string) bool { return match(pat, p) })
}

// goList lists the packages of the module and every dependency of them, by
// import path. It fails the test if go list fails or reports a package
// error.
func goList(t *testing.T) map[string]*pkg {
	t.Helper()
	args := []string{"list", "-deps", "-json=ImportPath,Standard,CgoFiles,Deps,TestImports,XTestImports,Error", "./..."}
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Stderr = new(strings.Builder)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, cmd.Stderr)
	}
	pkgs := make(map[string]*pkg)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list printed JSON that does not decode: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// closure returns the dependencies of p, with the dependencies of its
// tests if tests is set. A test import that go list did not list (a
// standard package only tests use) counts alone.
func closure(pkgs map[string]*pkg, p *pkg, tests bool) []string {
	deps := slices.Clone(p.Deps)
	if tests {
		for _, ti := range slices.Concat(p.TestImports, p.XTestImports) {
			if ti == p.ImportPath {
				continue // the external test package imports its package
			}
			deps = append(deps, ti)
			if d, ok := pkgs[ti]; ok {
				deps = append(deps, d.Deps...)
			}
		}
	}
	slices.Sort(deps)
	return slices.Compact(deps)
}

// broken returns what the packages of rule r depend on against the rule,
// as "package -> dependency" lines, and the number of packages it checked.
func broken(pkgs map[string]*pkg, r rule) (bad []string, checked int) {
	for _, path := range slices.Sorted(maps.Keys(pkgs)) {
		p := pkgs[path]
		if p.Standard || !matchAny(r.pkgs, path) || matchAny(r.except, path) {
			continue
		}
		checked++
		for _, d := range closure(pkgs, p, r.tests) {
			dp, known := pkgs[d]
			std := known && dp.Standard || !known && !strings.Contains(strings.Split(d, "/")[0], ".")
			switch {
			case d == path:
			case r.stdOnly && !std:
				bad = append(bad, path+" -> "+d)
			case matchAny(r.forbid, d):
				bad = append(bad, path+" -> "+d)
			case r.noCgo && !std && known && len(dp.CgoFiles) > 0:
				// The standard library's cgo files (net, os/user,
				// runtime/cgo) have pure Go twins; the CGO_ENABLED=0
				// build below checks them.
				bad = append(bad, path+" -> "+d+" (cgo files "+strings.Join(dp.CgoFiles, ", ")+")")
			}
		}
		if r.noCgo && len(p.CgoFiles) > 0 {
			bad = append(bad, path+" has cgo files "+strings.Join(p.CgoFiles, ", "))
		}
	}
	return bad, checked
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

// TestImports checks the import rules of the package docs with go list, and
// that the client library and the API build without cgo.
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list and go build")
	}
	pkgs := goList(t)
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			bad, checked := broken(pkgs, r)
			if checked == 0 {
				t.Fatalf("no package matches %s; the rule checks nothing", strings.Join(r.pkgs, ", "))
			}
			if len(bad) > 0 {
				t.Errorf("dependencies against the rule (%s):\n\t%s", r.why, strings.Join(bad, "\n\t"))
			}
		})
	}
	t.Run("CGO_ENABLED=0", func(t *testing.T) {
		cmd := exec.Command(goTool(t), "build", "./client", "./api/...")
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("CGO_ENABLED=0 go build ./client ./api/...: %v\n%s", err, out)
		}
	})
}
