package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

func TestCRUD(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ix := openTest(t, "", Options{Now: clk.now})
	media := still(phash(h64(0xf0f0f0f0f0f0f0f0)), dhash(h64(0x0123456789abcdef)))
	media.FileSignals = []mediamatch.Signal{md5sig(make([]byte, 16))}
	item := mediamatch.Item{Bank: "gifct", ID: "item-1", Labels: map[string]string{"entity": "x"}, Media: media}

	steps := []struct {
		name string
		op   func() error
		want error
	}{
		{"create bank", func() error {
			_, err := ix.CreateBank(ctx, mediamatch.Bank{Name: "gifct", Description: "d"})
			return err
		}, nil},
		{"create bank twice", func() error { _, err := ix.CreateBank(ctx, mediamatch.Bank{Name: "gifct"}); return err }, mediamatch.ErrAlreadyExists},
		{"create bad name", func() error { _, err := ix.CreateBank(ctx, mediamatch.Bank{Name: "Bad"}); return err }, mediamatch.ErrInvalid},
		{"create long description", func() error {
			_, err := ix.CreateBank(ctx, mediamatch.Bank{Name: "b2", Description: strings.Repeat("x", 1025)})
			return err
		}, mediamatch.ErrInvalid},
		{"get missing bank", func() error { _, err := ix.GetBank(ctx, "nope"); return err }, mediamatch.ErrNotFound},
		{"add to missing bank", func() error {
			_, err := ix.AddItem(ctx, mediamatch.Item{Bank: "nope", ID: "a", Media: media})
			return err
		}, mediamatch.ErrNotFound},
		{"add", func() error { _, err := ix.AddItem(ctx, item); return err }, nil},
		{"add twice", func() error { _, err := ix.AddItem(ctx, item); return err }, mediamatch.ErrAlreadyExists},
		{"add bad id", func() error {
			_, err := ix.AddItem(ctx, mediamatch.Item{Bank: "gifct", ID: "a/b", Media: media})
			return err
		}, mediamatch.ErrInvalid},
		{"add bad labels", func() error {
			_, err := ix.AddItem(ctx, mediamatch.Item{Bank: "gifct", ID: "b", Labels: map[string]string{"": "v"}, Media: media})
			return err
		}, mediamatch.ErrInvalid},
		{"add bad media", func() error {
			_, err := ix.AddItem(ctx, mediamatch.Item{Bank: "gifct", ID: "b", Media: still(phash([]byte{1, 2}))})
			return err
		}, mediamatch.ErrInvalid},
		{"get missing item", func() error { _, err := ix.GetItem(ctx, "gifct", "nope"); return err }, mediamatch.ErrNotFound},
		{"get item of missing bank", func() error { _, err := ix.GetItem(ctx, "nope", "item-1"); return err }, mediamatch.ErrNotFound},
		{"update missing item", func() error {
			_, err := ix.UpdateItem(ctx, "gifct", "nope", mediamatch.ItemUpdate{SetDisabled: true, Disabled: true})
			return err
		}, mediamatch.ErrNotFound},
		{"update bad labels", func() error {
			_, err := ix.UpdateItem(ctx, "gifct", "item-1", mediamatch.ItemUpdate{SetLabels: true, Labels: map[string]string{"k": strings.Repeat("v", 257)}})
			return err
		}, mediamatch.ErrInvalid},
		{"list items of missing bank", func() error { _, _, err := ix.ListItems(ctx, "nope", 0, ""); return err }, mediamatch.ErrNotFound},
		{"list items negative page", func() error { _, _, err := ix.ListItems(ctx, "gifct", -1, ""); return err }, mediamatch.ErrInvalid},
		{"list items garbage token", func() error { _, _, err := ix.ListItems(ctx, "gifct", 0, "!!!"); return err }, mediamatch.ErrInvalid},
		{"list items bank token", func() error {
			_, _, err := ix.ListItems(ctx, "gifct", 0, pageTokenFor(keyBank, "gifct"))
			return err
		}, mediamatch.ErrInvalid},
		{"list banks garbage token", func() error { _, _, err := ix.ListBanks(ctx, 0, "Zm9v"); return err }, mediamatch.ErrInvalid},
		{"delete missing item", func() error { return ix.DeleteItem(ctx, "gifct", "nope") }, mediamatch.ErrNotFound},
		{"delete missing bank", func() error { return ix.DeleteBank(ctx, "nope") }, mediamatch.ErrNotFound},
		{"match missing bank", func() error { _, err := ix.Match(ctx, Query{Media: media, Banks: []string{"nope"}}); return err }, mediamatch.ErrNotFound},
		{"cancelled context", func() error {
			c, cancel := context.WithCancel(ctx)
			cancel()
			_, err := ix.GetBank(c, "gifct")
			return err
		}, context.Canceled},
	}
	for _, s := range steps {
		if err := s.op(); !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
			t.Errorf("%s: got error %v, want %v", s.name, err, s.want)
		}
	}

	// The item round-trips with its times.
	got, err := ix.GetItem(ctx, "gifct", "item-1")
	if err != nil {
		t.Fatalf("GetItem = %v", err)
	}
	want := item
	want.CreateTime = got.CreateTime
	want.UpdateTime = got.CreateTime
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetItem = %+v, want %+v", got, want)
	}
	if got.CreateTime.IsZero() || got.CreateTime.Location() != time.UTC {
		t.Errorf("GetItem CreateTime = %v, want a UTC time", got.CreateTime)
	}
	b, err := ix.GetBank(ctx, "gifct")
	if err != nil || b.ItemCount != 1 || b.Description != "d" {
		t.Errorf("GetBank = %+v, %v; want 1 item, description d", b, err)
	}

	up, err := ix.UpdateItem(ctx, "gifct", "item-1", mediamatch.ItemUpdate{SetLabels: true, Labels: map[string]string{"entity": "y", "source": "z"}})
	if err != nil {
		t.Fatalf("UpdateItem = %v", err)
	}
	if up.Labels["entity"] != "y" || up.Labels["source"] != "z" || len(up.Labels) != 2 || up.Disabled {
		t.Errorf("UpdateItem labels = %v disabled %v, want entity=y source=z enabled", up.Labels, up.Disabled)
	}
	if !up.UpdateTime.After(up.CreateTime) {
		t.Errorf("UpdateItem UpdateTime %v, want after CreateTime %v", up.UpdateTime, up.CreateTime)
	}
	got, _ = ix.GetItem(ctx, "gifct", "item-1")
	if !reflect.DeepEqual(got.Labels, up.Labels) || !got.UpdateTime.Equal(up.UpdateTime) {
		t.Errorf("GetItem after update = labels %v time %v, want %v %v", got.Labels, got.UpdateTime, up.Labels, up.UpdateTime)
	}

	if same, err := ix.UpdateItem(ctx, "gifct", "item-1", mediamatch.ItemUpdate{}); err != nil || !reflect.DeepEqual(same, got) {
		t.Errorf("UpdateItem with nothing to change = %+v, %v; want %+v", same, err, got)
	}

	if err := ix.DeleteItem(ctx, "gifct", "item-1"); err != nil {
		t.Fatalf("DeleteItem = %v", err)
	}
	if _, err := ix.GetItem(ctx, "gifct", "item-1"); !errors.Is(err, mediamatch.ErrNotFound) {
		t.Errorf("GetItem after delete: got %v, want mediamatch.ErrNotFound", err)
	}
	for _, p := range []byte{keyItemID, keyMeta, keyMedia, keySignal} {
		if n := countKeys(t, ix, p); n != 0 {
			t.Errorf("keys %q after DeleteItem: got %d, want 0", p, n)
		}
	}
	if b, _ := ix.GetBank(ctx, "gifct"); b.ItemCount != 0 {
		t.Errorf("ItemCount after delete: got %d, want 0", b.ItemCount)
	}

	if err := ix.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := ix.Close(); !errors.Is(err, mediamatch.ErrClosed) {
		t.Errorf("second Close: got %v, want mediamatch.ErrClosed", err)
	}
	if _, err := ix.GetBank(ctx, "gifct"); !errors.Is(err, mediamatch.ErrClosed) {
		t.Errorf("GetBank after Close: got %v, want mediamatch.ErrClosed", err)
	}
	if _, err := ix.Match(ctx, Query{Media: media}); !errors.Is(err, mediamatch.ErrClosed) {
		t.Errorf("Match after Close: got %v, want mediamatch.ErrClosed", err)
	}
}

func TestPaging(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	var banks, ids []string
	for i := range 25 {
		name := fmt.Sprintf("bank-%02d", 24-i) // created out of order
		banks = append([]string{name}, banks...)
		mustBank(t, ix, name)
	}
	for i := range 23 {
		id := fmt.Sprintf("id-%03d", (i*7)%23) // added out of order
		mustAdd(t, ix, mediamatch.Item{Bank: "bank-00", ID: id, Media: still(phash(h64(uint64(i))))})
	}
	for i := range 23 {
		ids = append(ids, fmt.Sprintf("id-%03d", i))
	}
	mustBank(t, ix, "zz-other") // its items must not show
	mustAdd(t, ix, mediamatch.Item{Bank: "zz-other", ID: "id-000", Media: still()})
	banks = append(banks, "zz-other")

	tests := []struct {
		name     string
		pageSize int
		list     func(size int, tok string) ([]string, string, error)
		want     []string
		pages    int
	}{
		{"banks by 10", 10, func(size int, tok string) ([]string, string, error) {
			bs, next, err := ix.ListBanks(ctx, size, tok)
			var names []string
			for _, b := range bs {
				names = append(names, b.Name)
			}
			return names, next, err
		}, banks, 3},
		{"banks default", 0, func(size int, tok string) ([]string, string, error) {
			bs, next, err := ix.ListBanks(ctx, size, tok)
			var names []string
			for _, b := range bs {
				names = append(names, b.Name)
			}
			return names, next, err
		}, banks, 1},
		{"items by 5", 5, func(size int, tok string) ([]string, string, error) {
			its, next, err := ix.ListItems(ctx, "bank-00", size, tok)
			var names []string
			for _, it := range its {
				names = append(names, it.ID)
			}
			return names, next, err
		}, ids, 5},
		{"items by 23", 23, func(size int, tok string) ([]string, string, error) {
			its, next, err := ix.ListItems(ctx, "bank-00", size, tok)
			var names []string
			for _, it := range its {
				names = append(names, it.ID)
			}
			return names, next, err
		}, ids, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all []string
			tok, pages := "", 0
			for {
				got, next, err := tt.list(tt.pageSize, tok)
				if err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				pages++
				all = append(all, got...)
				if next == "" {
					break
				}
				if pages > 100 {
					t.Fatal("paging does not end")
				}
				tok = next
			}
			if !reflect.DeepEqual(all, tt.want) {
				t.Errorf("got %v, want %v", all, tt.want)
			}
			if pages != tt.pages {
				t.Errorf("got %d pages, want %d", pages, tt.pages)
			}
		})
	}
	bs, _, _ := ix.ListBanks(ctx, 1, "")
	if len(bs) != 1 || bs[0].ItemCount != 23 {
		t.Errorf("ListBanks first = %+v, want bank-00 with 23 items", bs)
	}
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ix := openTest(t, dir, Options{})
	mustBank(t, ix, "a")
	mustBank(t, ix, "b")
	v := video(h64(0x0f0f0f0f0f0f0f0f), h64(0x2222222222), h64(0x3333333333333333))
	v.FileSignals = []mediamatch.Signal{md5sig([]byte("0123456789abcdef"))}
	v.Keyframes[1].LowInformation = true
	items := []mediamatch.Item{
		{Bank: "a", ID: "img", Labels: map[string]string{"entity": "e"}, Media: still(phash(h64(0xffffffff00000000)), dhash(h64(0xbbbb)))},
		{Bank: "a", ID: "vid", Media: v},
		{Bank: "b", ID: "off", Disabled: true, Media: still(phash(h64(0x00000000ffffffff)))},
	}
	var added []mediamatch.Item
	for _, it := range items {
		added = append(added, mustAdd(t, ix, it))
	}
	if err := ix.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	ix = openTest(t, dir, Options{})
	for _, want := range added {
		got, err := ix.GetItem(ctx, want.Bank, want.ID)
		if err != nil {
			t.Fatalf("GetItem(%s/%s) after reopen = %v", want.Bank, want.ID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetItem(%s/%s) after reopen = %+v, want %+v", want.Bank, want.ID, got, want)
		}
	}
	for _, name := range []string{"a", "b"} {
		if b, err := ix.GetBank(ctx, name); err != nil || b.ItemCount == 0 {
			t.Errorf("GetBank(%s) after reopen = %+v, %v; want items", name, b, err)
		}
	}
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"image", Query{Media: still(phash(h64(0xffffffff00000001))), Signals: phashOnly()}, []string{"a/img"}},
		{"video frame", Query{Media: still(phash(h64(0x3333333333333330))), Signals: phashOnly()}, []string{"a/vid"}},
		{"video low-information frame", Query{Media: still(phash(h64(0x2222222222))), Signals: phashOnly()}, nil},
		{"video md5", Query{Media: mediamatch.Media{FileSignals: v.FileSignals}}, []string{"a/vid"}},
		{"disabled stays disabled", Query{Media: still(phash(h64(0x00000000ffffffff))), Signals: phashOnly()}, nil},
	}
	for _, tt := range tests {
		if got := matchIDs(t, ix, tt.q); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	// Enabling after a reopen restores its signals; new items get fresh refs.
	if _, err := ix.UpdateItem(ctx, "b", "off", mediamatch.ItemUpdate{SetDisabled: true}); err != nil {
		t.Fatalf("UpdateItem = %v", err)
	}
	mustAdd(t, ix, mediamatch.Item{Bank: "b", ID: "new", Media: still(phash(h64(0x00000000ffffffff)))})
	if got, want := matchIDs(t, ix, Query{Media: still(phash(h64(0x00000000ffffffff))), Signals: phashOnly()}), []string{"b/new", "b/off"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after enable and add: got %v, want %v", got, want)
	}
	if got := matchIDs(t, ix, Query{Media: still(phash(h64(0xffffffff00000000))), Signals: phashOnly()}); !reflect.DeepEqual(got, []string{"a/img"}) {
		t.Errorf("old item after add: got %v, want [a/img]", got)
	}
}

func TestDeleteBank(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ix := openTest(t, dir, Options{noPurge: true})
	mustBank(t, ix, "doomed")
	mustBank(t, ix, "kept")
	var batch []mediamatch.Item
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		h := r.Uint64()
		if i == 0 {
			h = 0
		}
		batch = append(batch, mediamatch.Item{Bank: "doomed", ID: fmt.Sprintf("i%03d", i), Media: still(phash(h64(h)), dhash(h64(uint64(i))))})
	}
	if err := ix.addItems(ctx, "doomed", batch); err != nil {
		t.Fatalf("addItems = %v", err)
	}
	mustAdd(t, ix, mediamatch.Item{Bank: "kept", ID: "k", Media: still(phash(h64(0)))})
	q := Query{Media: still(phash(h64(0))), Signals: phashOnly()}
	if got, want := matchIDs(t, ix, q), []string{"doomed/i000", "kept/k"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("before delete: got %v, want %v", got, want)
	}

	if err := ix.DeleteBank(ctx, "doomed"); err != nil {
		t.Fatalf("DeleteBank = %v", err)
	}
	if got, want := matchIDs(t, ix, q), []string{"kept/k"}; !reflect.DeepEqual(got, want) {
		t.Errorf("right after delete: got %v, want %v", got, want)
	}
	if _, err := ix.GetItem(ctx, "doomed", "i001"); !errors.Is(err, mediamatch.ErrNotFound) {
		t.Errorf("GetItem in deleted bank: got %v, want mediamatch.ErrNotFound", err)
	}
	// The name is free again, and the new bank is empty.
	mustBank(t, ix, "doomed")
	if its, _, err := ix.ListItems(ctx, "doomed", 0, ""); err != nil || len(its) != 0 {
		t.Errorf("ListItems of recreated bank = %d items, %v; want 0", len(its), err)
	}
	if b, _ := ix.GetBank(ctx, "doomed"); b.ItemCount != 0 {
		t.Errorf("ItemCount of recreated bank = %d, want 0", b.ItemCount)
	}
	mustAdd(t, ix, mediamatch.Item{Bank: "doomed", ID: "i000", Media: still(phash(h64(0)))})

	// Crash before the purge: a reopen does not load the old items and
	// purges them.
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = openTest(t, dir, Options{noPurge: true})
	if n := countKeys(t, ix, keyMeta); n != 302 {
		t.Errorf("item records before purge: got %d, want 302", n)
	}
	if got, want := ix.mem.state().nitems, 2; got != want {
		t.Errorf("items in memory after reopen: got %d, want %d", got, want)
	}
	if got, want := matchIDs(t, ix, q), []string{"doomed/i000", "kept/k"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen: got %v, want %v", got, want)
	}
	if err := ix.waitPurged(ctx); err != nil {
		t.Fatalf("purge = %v", err)
	}
	for _, c := range []struct {
		prefix byte
		want   int
	}{{keyMeta, 2}, {keyMedia, 2}, {keyItemID, 2}, {keySignal, 2}, {keyTombstone, 0}, {keyBank, 2}} {
		if n := countKeys(t, ix, c.prefix); n != c.want {
			t.Errorf("keys %q after purge: got %d, want %d", c.prefix, n, c.want)
		}
	}

	// A live purge removes the items from memory as well.
	if err := ix.DeleteBank(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	if err := ix.waitPurged(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := ix.mem.state().nitems, 1; got != want {
		t.Errorf("items in memory after live purge: got %d, want %d", got, want)
	}
	if got := ix.mem.state().entries(mediamatch.PHash); got != 1 {
		t.Errorf("pHash entries after live purge: got %d, want 1", got)
	}
}

// TestBackgroundPurge checks that the purge goroutine deletes a bank's
// stored items without being asked.
func TestBackgroundPurge(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "doomed")
	for i := range 5 {
		mustAdd(t, ix, mediamatch.Item{Bank: "doomed", ID: fmt.Sprint(i), Media: still(phash(h64(uint64(i))))})
	}
	if err := ix.DeleteBank(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	for countKeys(t, ix, keyTombstone) != 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if n := countKeys(t, ix, keyMeta); n != 0 {
		t.Errorf("item records after background purge: got %d, want 0", n)
	}
}

// TestLargestItem adds the largest valid video (10,000 keyframes, three
// perceptual signals each) in one transaction, matches it and deletes it.
func TestLargestItem(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "big")
	r := rand.New(rand.NewPCG(13, 14))
	m := mediamatch.Media{Kind: mediamatch.KindVideo, Format: "mp4"}
	for i := range mediamatch.MaxKeyframes {
		p := make([]byte, 32)
		for j := range p {
			p[j] = byte(r.Uint32())
		}
		m.Keyframes = append(m.Keyframes, mediamatch.Keyframe{
			Index: i, Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second,
			Signals: []mediamatch.Signal{pdq(p), phash(h64(r.Uint64())), dhash(h64(r.Uint64()))},
		})
	}
	mustAdd(t, ix, mediamatch.Item{Bank: "big", ID: "big", Media: m})
	q := still(m.Keyframes[mediamatch.MaxKeyframes-1].Signals...)
	// PDQ, the default signal, finds the last keyframe of the largest item.
	if got := matchIDs(t, ix, Query{Media: q}); !reflect.DeepEqual(got, []string{"big/big"}) {
		t.Errorf("Match = %v, want [big/big]", got)
	}
	if err := ix.DeleteItem(ctx, "big", "big"); err != nil {
		t.Fatalf("DeleteItem = %v", err)
	}
	if n := countKeys(t, ix, keySignal); n != 0 {
		t.Errorf("signal keys after delete: got %d, want 0", n)
	}
}

// TestLayoutVersion writes another layout version into a store and opens
// it: Open refuses it with ErrLayout and a message naming both versions
// and what to do, and leaves the recorded version as it was.
func TestLayoutVersion(t *testing.T) {
	for _, c := range []struct {
		name  string
		v     []byte
		wants []string
	}{
		{"newer", []byte{layoutVersion + 1}, []string{
			fmt.Sprintf("store layout version %d, newer than this binary's %d", layoutVersion+1, layoutVersion),
			"mediamatch restore --data DIR FILE", "later release"}},
		{"older", []byte{layoutVersion - 1}, []string{
			fmt.Sprintf("store layout version %d, older than this binary's %d", layoutVersion-1, layoutVersion),
			"run the release that wrote it", fmt.Sprintf("migrates layout %d", layoutVersion-1)}},
		{"damaged", []byte{layoutVersion, 0}, []string{
			fmt.Sprintf("store layout version %02x00 is unreadable (want one byte, %d)", layoutVersion, layoutVersion),
			"mediamatch restore --data DIR FILE"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ix := openTest(t, dir, Options{})
			mustBank(t, ix, "b")
			if err := ix.st.update(func(tx *writeTx) error { return tx.set(layoutKey(), c.v) }); err != nil {
				t.Fatal(err)
			}
			ix.Close()
			ix, err := Open(dir, Options{})
			if err == nil {
				ix.Close()
				t.Fatalf("Open of a store in layout %x: got nil error, want ErrLayout", c.v)
			}
			if !errors.Is(err, ErrLayout) {
				t.Errorf("Open = %v, want ErrLayout", err)
			}
			for _, w := range append(c.wants, dir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open = %q, want it to say %q", err, w)
				}
			}
			st, err := openStore(dir, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			var got []byte
			if err := st.view(func(tx *readTx) error { got, err = tx.get(layoutKey()); return err }); err != nil || !bytes.Equal(got, c.v) {
				t.Errorf("layout version after the refusal = %x, %v; want %x as written", got, err, c.v)
			}
		})
	}
}
