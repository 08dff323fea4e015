package index

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestWritesAreSynced checks the README's "every write is synced before
// the call returns" where it can be seen from outside a power loss: the
// store an Index opens has Badger's SyncWrites set, and every write path
// goes through that one database (Badger syncs a commit, a transaction's
// or a WriteBatch's, before it returns when SyncWrites is set). A test that
// kills the process cannot see this: what a dead process wrote survives it
// in the page cache.
func TestWritesAreSynced(t *testing.T) {
	ix := openTest(t, "", Options{})
	if opts := ix.st.db.Opts(); !opts.SyncWrites {
		t.Errorf("the opened store's SyncWrites = false, want true")
	}

	// Every write goes through store.go's db: no other file imports
	// Badger, and store.go calls on its db only methods whose writes
	// obey SyncWrites.
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	// RunValueLogGC (vlog.go's background GC) moves live values with
	// batchSet, the write path of Update, synced the same way, and deletes
	// the old value-log file only after those writes returned.
	allowed := []string{"Update", "View", "NewWriteBatch", "NewTransaction", "Close", "Opts", "RunValueLogGC"}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, "github.com/dgraph-io/badger") && name != "store.go" {
				t.Errorf("%s imports %s: only store.go may touch Badger", name, p)
			}
		}
		if name != "store.go" {
			continue
		}
		opens := 0
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "badger" && sel.Sel.Name == "Open" {
				opens++
			}
			if x, ok := sel.X.(*ast.SelectorExpr); ok && x.Sel.Name == "db" && !slices.Contains(allowed, sel.Sel.Name) {
				t.Errorf("%s: store.go calls db.%s, not one of %v whose writes obey SyncWrites", fset.Position(sel.Pos()), sel.Sel.Name, allowed)
			}
			return true
		})
		if opens != 1 {
			t.Errorf("store.go calls badger.Open %d times, want once (the options checked above)", opens)
		}
	}
}

// TestMatchDoesNotWaitForWriter checks "readers never wait for a writer":
// with the writers' lock held, as by a writer between its commit and its
// memory update, Match still returns. The test watches the Match
// goroutine's stack rather than a clock: it passes when Match returns and
// fails as soon as Match is seen blocked on a mutex.
func TestMatchDoesNotWaitForWriter(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 1))
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "a")
	h := h256(r)
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "x", Media: still(pdq(h))})

	ix.wmu.Lock()
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			ix.wmu.Unlock()
		}
	}
	defer unlock()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		ms, err := ix.Match(context.Background(), Query{Media: still(pdq(flip(r, h, 3)))})
		done <- result{len(ms), err}
	}()
	buf := make([]byte, 1<<20)
	for {
		select {
		case res := <-done:
			if res.err != nil || res.n != 1 {
				t.Fatalf("Match with the writers' lock held = %d matches, %v; want 1, nil", res.n, res.err)
			}
			return
		default:
		}
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "index.(*Index).Match(") && strings.Contains(g, "sync.(*Mutex).Lock") {
				unlock()
				t.Fatalf("Match waits for a mutex while a writer holds the writers' lock:\n%s", g)
			}
		}
		runtime.Gosched()
	}
}
