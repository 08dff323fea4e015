package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// TestDomainErrorsReachTheCaller checks that the domain's errors keep
// their code, their field and their own text on the wire: a bad item id
// names AddItemRequest.item.id in the message and the BadRequest, and a
// missing item's NotFound carries no package prefix.
func TestDomainErrorsReachTheCaller(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}

	_, err := e.bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "a/b"},
		Source: &pb.AddItemRequest_Media{Media: &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_IMAGE, Keyframes: []*pb.Keyframe{
			{Signals: []*pb.Signal{{Type: pb.SignalType_SIGNAL_TYPE_PHASH, Hash: make([]byte, 8), Quality: 100}}}}}}})
	st := wantStatus(t, err, codes.InvalidArgument)
	if want := `AddItemRequest.item.id: "a/b" contains '/' at byte 1, want 1..128 bytes of printable ASCII without space or '/'`; st.Message() != want {
		t.Errorf("AddItem(id a/b) message %q, want %q", st.Message(), want)
	}
	if fields := badFields(st); !slices.Equal(fields, []string{"AddItemRequest.item.id"}) {
		t.Errorf("AddItem(id a/b) BadRequest fields %v, want [AddItemRequest.item.id]", fields)
	}

	// Every bad signal is named at once, by the domain's validator.
	_, err = e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: &pb.Media{Keyframes: []*pb.Keyframe{
		{Index: 0, Signals: []*pb.Signal{{Type: pb.SignalType_SIGNAL_TYPE_PDQ, Hash: make([]byte, 31)}}},
		{Index: 1, Signals: []*pb.Signal{{Type: pb.SignalType_SIGNAL_TYPE_PDQ, Hash: make([]byte, 32), Quality: 101}}}}}})
	st = wantStatus(t, err, codes.InvalidArgument)
	if want := []string{"MatchSignalsRequest.media.keyframes[0].signals[0].hash", "MatchSignalsRequest.media.keyframes[1].signals[0].quality"}; !slices.Equal(badFields(st), want) {
		t.Errorf("MatchSignals(two bad signals) BadRequest fields %v, want %v", badFields(st), want)
	}

	_, err = e.bank.GetItem(ctx, &pb.GetItemRequest{Bank: "tve", Id: "missing"})
	st = wantStatus(t, err, codes.NotFound)
	if want := `item "missing" in bank "tve"`; st.Message() != want {
		t.Errorf("GetItem(missing) message %q, want %q", st.Message(), want)
	}
	_, err = e.bank.GetBank(ctx, &pb.GetBankRequest{Name: "nope"})
	st = wantStatus(t, err, codes.NotFound)
	if want := `bank "nope"`; st.Message() != want {
		t.Errorf("GetBank(missing) message %q, want %q", st.Message(), want)
	}
	_, err = e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}})
	st = wantStatus(t, err, codes.AlreadyExists)
	if want := `bank "tve"`; st.Message() != want {
		t.Errorf("CreateBank(existing) message %q, want %q", st.Message(), want)
	}
}

// TestNoErrorTextSurgery fails if code in this package, the client or the
// CLI rewrites an error's text with the strings package (TrimPrefix,
// TrimSuffix, Replace, Cut...): errors carry caller-facing text by
// construction (mediamatch.Error) and are translated by their code and
// field, never by editing their words. It looks at the first argument of
// each such call for an x.Error() call, or for a variable given one in
// the same function.
func TestNoErrorTextSurgery(t *testing.T) {
	edits := map[string]bool{
		"TrimPrefix": true, "TrimSuffix": true, "TrimLeft": true, "TrimRight": true, "Trim": true,
		"Replace": true, "ReplaceAll": true, "Cut": true, "CutPrefix": true, "CutSuffix": true,
	}
	var files []string
	for _, dir := range []string{".", "../client", "../cmd/mediamatch/internal/cli", "../index", "../index/hashlist",
		"../fingerprint", "../api/mediamatch", "../api/mediamatch/v1"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	if len(files) < 10 {
		t.Fatalf("found %d source files, want those of every package that makes or passes on errors", len(files))
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			// Variables assigned an error's text in this function.
			texts := map[string]bool{}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
					for i, r := range as.Rhs {
						if id, ok := as.Lhs[i].(*ast.Ident); ok && hasErrorText(r, texts) {
							texts[id.Name] = true
						}
					}
				}
				return true
			})
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !edits[sel.Sel.Name] {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "strings" {
					return true
				}
				if hasErrorText(call.Args[0], texts) {
					t.Errorf("%s: strings.%s rewrites an error's text; give the error the text the caller should "+
						"see (a *mediamatch.Error's Msg, a field of its own) instead", fset.Position(call.Pos()), sel.Sel.Name)
				}
				return true
			})
		}
	}
}

// hasErrorText reports whether e holds a call of an Error() method, or one
// of the variables in texts.
func hasErrorText(e ast.Expr, texts map[string]bool) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Error" && len(n.Args) == 0 {
				found = true
			}
		case *ast.Ident:
			if texts[n.Name] {
				found = true
			}
		}
		return !found
	})
	return found
}
