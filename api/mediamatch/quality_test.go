package mediamatch

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestMatchable(t *testing.T) {
	pdq := func(q int) Signal { return Signal{Type: PDQ, Hash: make([]byte, 32), Quality: q} }
	for _, tt := range []struct {
		name string
		s    Signal
		low  bool // keyframe is low-information
		sig  bool // want Signal.Matchable
		kf   bool // want Keyframe.Matchable
	}{
		{"pdq at the minimum", pdq(50), false, true, true},
		{"pdq at 100", pdq(100), false, true, true},
		{"pdq one under the minimum", pdq(49), false, false, false},
		{"pdq quality 0", pdq(0), false, false, false},
		{"pdq of a low-information keyframe", pdq(100), true, true, false},
		{"phash, no quality measure", Signal{Type: PHash, Hash: make([]byte, 8)}, false, true, true},
		{"dhash of a low-information keyframe", Signal{Type: DHash, Hash: make([]byte, 8)}, true, true, false},
		{"md5, no quality measure", Signal{Type: MD5, Hash: make([]byte, 16)}, false, true, true},
		{"pdq transformed: quality decides, not the transform", Signal{Type: PDQ, Hash: make([]byte, 32), Quality: 50, Transform: FlipX}, false, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Matchable(); got != tt.sig {
				t.Errorf("%s quality %d: Signal.Matchable() = %v, want %v", tt.s.Type, tt.s.Quality, got, tt.sig)
			}
			k := Keyframe{Signals: []Signal{tt.s}, LowInformation: tt.low}
			if got := k.Matchable(tt.s); got != tt.kf {
				t.Errorf("%s quality %d, low information %v: Keyframe.Matchable() = %v, want %v", tt.s.Type, tt.s.Quality, tt.low, got, tt.kf)
			}
		})
	}
}

// TestDefaults pins the numbers partners use, so that changing the table
// is a deliberate act (the README and the CLI help print them).
func TestDefaults(t *testing.T) {
	for _, tt := range []struct {
		t                  SignalType
		threshold, quality int
	}{
		{PDQ, 31, 50},
		{PHash, 8, 0},
		{DHash, 8, 0},
		{MD5, 0, 0},
		{SHA256, 0, 0},
	} {
		if got := tt.t.DefaultThreshold(); got != tt.threshold {
			t.Errorf("%s.DefaultThreshold() = %d, want %d", tt.t, got, tt.threshold)
		}
		if got := tt.t.MinQuality(); got != tt.quality {
			t.Errorf("%s.MinQuality() = %d, want %d", tt.t, got, tt.quality)
		}
	}
}

// TestOneDefinition fails when the minimum quality or a default threshold
// is defined or checked a second time outside this package: it walks the
// module's non-test, non-generated Go files and reports
//   - a comparison with a Quality field or method (other than with 0,
//     which asks whether there is a quality at all): the floor is tested
//     by Signal.Matchable and Keyframe.Matchable only;
//   - a MinQuality() call other than as an argument of a fmt function (to
//     print the number in a message), and a comparison with a
//     DefaultThreshold() call: the numbers are printed or used as
//     defaults, never compared by hand;
//   - a declaration named MinQuality or DefaultThreshold (any case): the
//     numbers live in this package's types table;
//   - a non-zero integer literal given to a field or key named *threshold*,
//     *radius* or *quality* (any case): a default written out again.
func TestOneDefinition(t *testing.T) {
	root := filepath.Join("..", "..")
	var bad []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor" || rel == "api/mediamatch") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || strings.HasSuffix(rel, ".pb.go") {
			return nil
		}
		bad = append(bad, secondDefinitions(t, path, rel)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("%s; want Signal.Matchable, Keyframe.Matchable and the SignalType methods of package mediamatch", b)
	}
}

// secondDefinitions returns what TestOneDefinition reports in one file.
func secondDefinitions(t *testing.T, path, rel string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", rel, err)
	}
	var bad []string
	report := func(n ast.Node, format string, args ...any) {
		p := fset.Position(n.Pos())
		bad = append(bad, fmt.Sprintf("%s:%d: ", rel, p.Line)+fmt.Sprintf(format, args...))
	}
	named := regexp.MustCompile(`(?i)^(minquality|defaultthreshold)$`)
	keyed := regexp.MustCompile(`(?i)(threshold|radius|quality)`)
	printed := map[ast.Expr]bool{} // the arguments of fmt calls
	ast.Inspect(f, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if s, ok := c.Fun.(*ast.SelectorExpr); ok {
				if pkg, ok := s.X.(*ast.Ident); ok && pkg.Name == "fmt" {
					for _, a := range c.Args {
						printed[ast.Unparen(a)] = true
					}
				}
			}
		}
		return true
	})
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if selectorName(n.Fun) == "MinQuality" && !printed[n] {
				report(n, "MinQuality() used other than printed")
			}
		case *ast.BinaryExpr:
			switch n.Op {
			case token.LSS, token.LEQ, token.GTR, token.GEQ, token.EQL, token.NEQ:
			default:
				return true
			}
			for _, pair := range [][2]ast.Expr{{n.X, n.Y}, {n.Y, n.X}} {
				switch sel := selectorName(pair[0]); sel {
				case "Quality":
					if !isZero(pair[1]) {
						report(n, "a quality compared by hand")
						return true
					}
				case "DefaultThreshold":
					if _, call := ast.Unparen(pair[0]).(*ast.CallExpr); call {
						report(n, "%s() compared by hand", sel)
						return true
					}
				}
			}
		case *ast.ValueSpec:
			for _, id := range n.Names {
				if named.MatchString(id.Name) {
					report(id, "%s declared", id.Name)
				}
			}
		case *ast.FuncDecl:
			if named.MatchString(n.Name.Name) {
				report(n.Name, "%s declared", n.Name.Name)
			}
		case *ast.Field:
			for _, id := range n.Names {
				if named.MatchString(id.Name) {
					report(id, "%s declared", id.Name)
				}
			}
		case *ast.KeyValueExpr:
			if k, ok := n.Key.(*ast.Ident); ok && keyed.MatchString(k.Name) && isIntLiteral(n.Value) && !isZero(n.Value) {
				report(n, "%s: %s written out", k.Name, n.Value.(*ast.BasicLit).Value)
			}
		case *ast.AssignStmt:
			for i, lhs := range n.Lhs {
				if i < len(n.Rhs) && keyed.MatchString(selectorName(lhs)) && isIntLiteral(n.Rhs[i]) && !isZero(n.Rhs[i]) {
					report(n, "%s = %s written out", selectorName(lhs), n.Rhs[i].(*ast.BasicLit).Value)
				}
			}
		}
		return true
	})
	return bad
}

// selectorName returns the selected name of x.Name or x.Name(...), else "".
func selectorName(e ast.Expr) string {
	e = ast.Unparen(e)
	if c, ok := e.(*ast.CallExpr); ok {
		e = c.Fun
	}
	if s, ok := e.(*ast.SelectorExpr); ok {
		return s.Sel.Name
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func isIntLiteral(e ast.Expr) bool {
	l, ok := ast.Unparen(e).(*ast.BasicLit)
	return ok && l.Kind == token.INT
}

func isZero(e ast.Expr) bool {
	l, ok := ast.Unparen(e).(*ast.BasicLit)
	if !ok || l.Kind != token.INT {
		return false
	}
	n, err := strconv.ParseInt(l.Value, 0, 64)
	return err == nil && n == 0
}

// TestDocumentedDefaults checks that the README and the API's comments
// state the thresholds and the minimum quality of the types table.
func TestDocumentedDefaults(t *testing.T) {
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	readme := read("README.md")
	const heading = "## Quality and thresholds"
	i := strings.Index(readme, heading)
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	section := readme[i+len(heading):]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	section = strings.Join(strings.Fields(section), " ")
	for _, want := range []string{
		fmt.Sprintf("PDQ %d of %d bits", PDQ.DefaultThreshold(), PDQ.Bits()),
		fmt.Sprintf("pHash %d of %d", PHash.DefaultThreshold(), PHash.Bits()),
		fmt.Sprintf("dHash %d of %d", DHash.DefaultThreshold(), DHash.Bits()),
		fmt.Sprintf("minimum quality %d", PDQ.MinQuality()),
		"MD5 and SHA-256 match exactly (distance 0)",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("README.md %s: no %q; want the numbers of the types table", heading, want)
		}
	}
	// Every other statement of a PDQ number in the docs agrees.
	docs := map[string]string{"README.md": readme}
	protos, _ := filepath.Glob(filepath.Join("v1", "*.proto"))
	for _, p := range protos {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.ToSlash(p)] = string(b)
	}
	for _, c := range []struct {
		re   *regexp.Regexp
		want int
	}{
		{regexp.MustCompile(`(?i)PDQ[^.;\n]{0,12}?threshold (\d+)`), PDQ.DefaultThreshold()},
		{regexp.MustCompile(`(?i)threshold (\d+) of 256`), PDQ.DefaultThreshold()},
		{regexp.MustCompile(`(?i)PDQ (\d+)[ ,]`), PDQ.DefaultThreshold()},
		{regexp.MustCompile(`(?i)pdq=(\d+)`), PDQ.DefaultThreshold()},
		{regexp.MustCompile(`(?i)uses (\d+) for PDQ`), PDQ.DefaultThreshold()},
		{regexp.MustCompile(`(?i)quality (?:under|below) (\d+)`), PDQ.MinQuality()},
		{regexp.MustCompile(`(?i)\(PDQ: (\d+)\)`), PDQ.MinQuality()},
	} {
		for name, text := range docs {
			text = strings.Join(strings.Fields(strings.ReplaceAll(text, "//", " ")), " ")
			for _, m := range c.re.FindAllStringSubmatch(text, -1) {
				if n, _ := strconv.Atoi(m[1]); n != c.want {
					t.Errorf("%s: %q says %d, want %d (the types table)", name, m[0], n, c.want)
				}
			}
		}
	}
}
