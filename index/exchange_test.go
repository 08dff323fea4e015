package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

func TestExchangeCRUD(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "gifct")
	e := Exchange{Name: "te", Bank: "gifct", Kind: "threatexchange", Interval: 5 * time.Minute,
		Settings: map[string]string{"privacy_group": "123"}, Credentials: CredentialsRef{File: "/data/exchanges/te.json"}}
	for _, c := range []struct {
		name string
		edit func(*Exchange)
		want error
	}{
		{"bad name", func(e *Exchange) { e.Name = "Bad/Name" }, mediamatch.ErrInvalid},
		{"no bank", func(e *Exchange) { e.Bank = "none" }, mediamatch.ErrNotFound},
		{"no kind", func(e *Exchange) { e.Kind = "" }, mediamatch.ErrInvalid},
		{"negative interval", func(e *Exchange) { e.Interval = -time.Second }, mediamatch.ErrInvalid},
		{"file and env", func(e *Exchange) { e.Credentials.Env = "TE_TOKEN" }, mediamatch.ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := e
			c.edit(&bad)
			if _, err := ix.CreateExchange(ctx, bad); !errors.Is(err, c.want) {
				t.Errorf("CreateExchange = %v, want %v", err, c.want)
			}
		})
	}
	got, err := ix.CreateExchange(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if got.Created.IsZero() || got.Name != "te" || got.Credentials != e.Credentials {
		t.Errorf("CreateExchange = %+v", got)
	}
	if _, err := ix.CreateExchange(ctx, e); !errors.Is(err, mediamatch.ErrAlreadyExists) {
		t.Errorf("second CreateExchange = %v, want already exists", err)
	}
	if _, err := ix.UpdateExchange(ctx, "te", func(e *Exchange) error { e.Paused = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if g, err := ix.GetExchange(ctx, "te"); err != nil || !g.Paused || g.Settings["privacy_group"] != "123" {
		t.Errorf("GetExchange = %+v, %v; want paused with its settings", g, err)
	}
	fnErr := errors.New("no")
	if _, err := ix.UpdateExchange(ctx, "te", func(e *Exchange) error { e.Paused = false; return fnErr }); !errors.Is(err, fnErr) {
		t.Errorf("UpdateExchange with a failing fn = %v, want its error", err)
	}
	if g, _ := ix.GetExchange(ctx, "te"); !g.Paused {
		t.Error("a failing UpdateExchange changed the exchange")
	}
	if l, err := ix.ListExchanges(ctx); err != nil || len(l) != 1 || l[0].Name != "te" {
		t.Errorf("ListExchanges = %+v, %v", l, err)
	}
	if err := ix.DeleteExchange(ctx, "te"); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.GetExchange(ctx, "te"); !errors.Is(err, mediamatch.ErrNotFound) {
		t.Errorf("GetExchange after delete = %v, want not found", err)
	}
	if err := ix.DeleteExchange(ctx, "te"); !errors.Is(err, mediamatch.ErrNotFound) {
		t.Errorf("second DeleteExchange = %v, want not found", err)
	}
}

// exchangePages is a feed of three pages: adds, then updates, deletes
// and adds, then an empty page that only moves the checkpoint.
func exchangePages() [][]ImportRecord {
	var p1 []ImportRecord
	for i := range 100 {
		p1 = append(p1, ImportRecord{Item: listItem(i, "b")})
	}
	for i := 150; i < 200; i++ {
		p1 = append(p1, ImportRecord{Item: mediamatch.Item{ID: listItem(i, "").ID}, Delete: true})
	}
	for i := 200; i < 300; i++ {
		p1 = append(p1, ImportRecord{Item: listItem(i, "a")})
	}
	return [][]ImportRecord{adds(200, "a"), p1, nil}
}

// applyPage applies page p of pages as the scheduler does: one import
// carrying the page's checkpoint.
func applyPage(ctx context.Context, ix *Index, name string, p int, page []ImportRecord) error {
	im, err := ix.BeginImport(ctx, "p")
	if err != nil {
		return err
	}
	defer im.Abort()
	for _, r := range page {
		if err := im.Add(ctx, r); err != nil {
			return err
		}
	}
	im.SetCheckpoint(name, fmt.Sprintf("cp-%d", p))
	_, err = im.Commit(ctx)
	return err
}

// TestExchangeCheckpointCrash crashes the apply of each page of an
// exchange at every point a crash can fall (before the commit point,
// after it with nothing applied, between apply transactions) and checks
// that after a restart the bank and the checkpoint agree: both before
// the page or both after it; then that resuming from the stored
// checkpoint ends with the bank the whole feed makes.
func TestExchangeCheckpointCrash(t *testing.T) {
	ctx := context.Background()
	pages := exchangePages()
	// want[p] is the bank after pages 0..p-1 (want[0] is empty).
	ref := openTest(t, "", Options{})
	mustBank(t, ref, "p")
	want := [][]string{nil}
	for _, page := range pages {
		runImport(t, ref, "p", page)
		want = append(want, bankContents(t, ref, "p"))
	}
	cps := []string{""}
	for p := range pages {
		cps = append(cps, fmt.Sprintf("cp-%d", p))
	}
	fail := errors.New("simulated crash")
	for p := range pages {
		for _, c := range []struct {
			name   string
			commit bool // reach the commit point
			after  int  // apply transactions that commit before the crash
		}{
			{"staged only", false, 0},
			{"committed, nothing applied", true, 0},
			{"committed, one transaction applied", true, 1},
			{"committed, two transactions applied", true, 2},
		} {
			t.Run(fmt.Sprintf("page %d/%s", p, c.name), func(t *testing.T) {
				dir := t.TempDir()
				ix := openTest(t, dir, Options{})
				mustBank(t, ix, "p")
				if _, err := ix.CreateExchange(ctx, Exchange{Name: "x", Bank: "p", Kind: "url"}); err != nil {
					t.Fatal(err)
				}
				for q := range p {
					if err := applyPage(ctx, ix, "x", q, pages[q]); err != nil {
						t.Fatal(err)
					}
				}
				ix.Close()

				ix = openTest(t, dir, Options{importTxn: 4096, importFault: func(txn int) error {
					if txn >= c.after {
						return fail
					}
					return nil
				}})
				if c.commit {
					if err := applyPage(ctx, ix, "x", p, pages[p]); !errors.Is(err, fail) && (err != nil || c.after == 0) {
						t.Fatalf("apply = %v, want the simulated crash", err)
					}
				} else {
					im, err := ix.BeginImport(ctx, "p")
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range pages[p] {
						if err := im.Add(ctx, r); err != nil {
							t.Fatal(err)
						}
					}
					im.SetCheckpoint("x", cps[p+1])
					if err := im.b.flush(); err != nil { // staged and durable, never committed
						t.Fatal(err)
					}
				}
				ix.Close()

				ix = openTest(t, dir, Options{})
				e, err := ix.GetExchange(ctx, "x")
				if err != nil {
					t.Fatal(err)
				}
				got := bankContents(t, ix, "p")
				at := slices.Index(cps, e.Checkpoint)
				if at < 0 {
					t.Fatalf("checkpoint %q is none of the pages'", e.Checkpoint)
				}
				if !slices.Equal(got, want[at]) {
					t.Fatalf("after restart: checkpoint %q (after %d pages) with a bank of %d items, want %d", e.Checkpoint, at, len(got), len(want[at]))
				}
				wantAt := p
				if c.commit {
					wantAt = p + 1
				}
				if at != wantAt {
					t.Errorf("after restart: checkpoint after %d pages, want %d", at, wantAt)
				}
				if n := countKeys(t, ix, keyImportCheckpoint); n != 0 {
					t.Errorf("%d import checkpoint keys left", n)
				}
				// Resume from the stored checkpoint, as the scheduler does.
				for q := at; q < len(pages); q++ {
					if err := applyPage(ctx, ix, "x", q, pages[q]); err != nil {
						t.Fatal(err)
					}
				}
				if got := bankContents(t, ix, "p"); !slices.Equal(got, want[len(pages)]) {
					t.Errorf("after resuming: %d items, want %d", len(got), len(want[len(pages)]))
				}
				if e, _ := ix.GetExchange(ctx, "x"); e.Checkpoint != cps[len(pages)] {
					t.Errorf("after resuming: checkpoint %q, want %q", e.Checkpoint, cps[len(pages)])
				}
			})
		}
	}
}

// TestExchangeCheckpointTotals checks that pages count in the exchange's
// totals, and that a page of a deleted exchange leaves no checkpoint for
// an exchange later made with its name.
func TestExchangeCheckpointTotals(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "p")
	if _, err := ix.CreateExchange(ctx, Exchange{Name: "x", Bank: "p", Kind: "url"}); err != nil {
		t.Fatal(err)
	}
	pages := exchangePages()
	for p, page := range pages {
		if err := applyPage(ctx, ix, "x", p, page); err != nil {
			t.Fatal(err)
		}
	}
	e, err := ix.GetExchange(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if want := (mediamatch.ImportStats{Added: 300, Updated: 100, Deleted: 50}); e.Status.Total != want {
		t.Errorf("totals %+v, want %+v", e.Status.Total, want)
	}
	if e.Checkpoint != "cp-2" {
		t.Errorf("checkpoint %q, want cp-2", e.Checkpoint)
	}

	im, err := ix.BeginImport(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	im.SetCheckpoint("x", "cp-late")
	if err := ix.DeleteExchange(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.CreateExchange(ctx, Exchange{Name: "x", Bank: "p", Kind: "url"}); err != nil {
		t.Fatal(err)
	}
	if e, _ := ix.GetExchange(ctx, "x"); e.Checkpoint != "" {
		t.Errorf("new exchange's checkpoint %q, want empty", e.Checkpoint)
	}
}
