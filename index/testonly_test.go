package index

import (
	"context"
	"log/slog"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Functions that only tests need, kept out of the package proper.

// waitPurged runs the purge at once.
func (ix *Index) waitPurged(ctx context.Context) error { return ix.purge(ctx) }

// each calls fn for every item, in ref order.
func (t itemTable) each(fn func(ref uint64, meta *itemMeta)) {
	if t.root != nil {
		t.root.each(t.shift, 0, fn)
	}
}

func (n *tableNode) each(shift uint, base uint64, fn func(uint64, *itemMeta)) {
	if shift == 0 {
		for i, m := range n.items {
			if m != nil {
				fn(base|uint64(i), m)
			}
		}
		return
	}
	for i, k := range n.kids {
		if k != nil {
			k.each(shift-tableBits, base|uint64(i)<<shift, fn)
		}
	}
}

// entries returns the number of signals of type t searched in s, of every view.
func (s *state) entries(t mediamatch.SignalType) int {
	n := 0
	for _, k := range []searchKey{{t, false}, {t, true}} {
		if v, ok := s.views[k]; ok {
			n += v.Len()
		}
	}
	return n
}

// openStore opens the Badger database in dir for writing.
func openStore(dir string, log *slog.Logger) (*store, error) { return openStoreMode(dir, log, false) }
