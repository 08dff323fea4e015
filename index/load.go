package index

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index/hamming"
)

// load checks the layout version and builds the in-memory state from the
// store: banks and item records with values, then signals from a key-only
// scan, gathered per type (the keys come sorted by type and item ref) and
// added to each type's searcher as one batch. Items of deleted banks are
// left for the purge. It publishes once, at the end.
func (ix *Index) load() error {
	if err := ix.checkLayout(); err != nil {
		return err
	}
	var err error
	ix.mem.write(func() { err = ix.st.view(ix.loadTx) })
	return err
}

func (ix *Index) loadTx(tx *readTx) error {
	m := ix.mem
	start := time.Now()
	err := tx.scan([]byte{keyBank}, nil, false, func(key, val []byte) (bool, error) {
		rec, err := decodeBank(val)
		if err != nil {
			return false, fmt.Errorf("bank %q: %w", key[1:], err)
		}
		name := string(key[1:])
		m.addBank(&bankState{ref: rec.ref, bank: mediamatch.Bank{Name: name, Description: rec.description, CreateTime: rec.created}})
		ix.nextBankRef = max(ix.nextBankRef, rec.ref+1)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("index: load banks: %w", err)
	}
	deleted := make(map[uint64]bool)
	err = tx.scan([]byte{keyTombstone}, nil, true, func(key, _ []byte) (bool, error) {
		ref, err := parseRefKey(key)
		deleted[ref] = true
		ix.nextBankRef = max(ix.nextBankRef, ref+1)
		return true, err
	})
	if err != nil {
		return fmt.Errorf("index: load deleted banks: %w", err)
	}
	orphans := 0
	err = tx.scan([]byte{keyMeta}, nil, false, func(key, val []byte) (bool, error) {
		ref, err := parseRefKey(key)
		if err != nil {
			return false, err
		}
		ix.nextRef = max(ix.nextRef, ref+1)
		rec, err := decodeItem(val)
		if err != nil {
			return false, fmt.Errorf("item %d: %w", ref, err)
		}
		b := m.next.bankByRef[rec.bank]
		if b == nil {
			if !deleted[rec.bank] {
				orphans++
			}
			return true, nil
		}
		rec.frameTypes = make([]uint8, len(rec.frames)) // filled in from the signal keys below
		m.setItem(ref, rec.meta())
		b.items.Add(1)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("index: load items: %w", err)
	}
	if orphans > 0 {
		ix.log.Warn("index: items of unknown banks ignored", "count", orphans)
	}
	itemsDone := time.Now()
	bad := 0
	batches := make(signalBatches)
	err = tx.scan([]byte{keySignal}, nil, true, func(key, _ []byte) (bool, error) {
		t, ref, frame, hash, err := parseSignalKey(key)
		if err == nil && t == mediamatch.Local {
			return true, nil // read with their values below
		}
		if err != nil || !t.Valid() || len(hash)*8 != t.Bits() {
			bad++
			return true, nil
		}
		meta := m.item(ref)
		if meta == nil {
			return true, nil
		}
		kf, view := splitFrame(frame)
		if kf >= 0 && kf < len(meta.shape.types) {
			meta.addFrameType(kf, typeBit(t)) // not yet published
		}
		if meta.disabled {
			return true, nil
		}
		batches.add(searchKey{t, view != 0}, ref, frame, hash)
		m.countSignalOf(meta, t, 1)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("index: load signals: %w", err)
	}
	keysDone := time.Now()
	batches.build(m.searcherFor)
	if err := ix.loadLocal(tx); err != nil {
		return err
	}
	ix.log.Info("index: load phases", "items", itemsDone.Sub(start), "signal_keys", keysDone.Sub(itemsDone),
		"build", time.Since(keysDone))
	if bad > 0 {
		ix.log.Warn("index: unreadable signal keys ignored", "count", bad)
	}
	return nil
}

// loadLocal reads the local features of every item (signal keys of type
// mediamatch.Local, with their values) into the KeyIndex, as one batch.
func (ix *Index) loadLocal(tx *readTx) error {
	m := ix.mem
	var e hamming.KeyEntries
	var keys []uint32
	bad := 0
	prefix := signalKey(mediamatch.Local, 0, 0, nil)[:1+len(mediamatch.Local)+1]
	err := tx.scan(prefix, nil, false, func(key, val []byte) (bool, error) {
		_, ref, frame, _, err := parseSignalKey(key)
		if err != nil {
			bad++
			return true, nil
		}
		meta := m.item(ref)
		if meta == nil {
			return true, nil
		}
		kf, _ := splitFrame(frame)
		_, _, fs, err := decodeFeatures(val)
		if err != nil || kf < 0 {
			bad++
			return true, nil
		}
		if kf < len(meta.shape.types) {
			meta.addFrameType(kf, typeBit(mediamatch.Local)) // not yet published
		}
		if meta.disabled {
			return true, nil
		}
		keys = featureKeys(keys[:0], fs)
		e.Add(ref, frame, keys, val) // copies both
		m.countSignalOf(meta, mediamatch.Local, 1)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("index: load local features: %w", err)
	}
	if e.Len() > 0 {
		m.localIndex().AddBatch(&e)
	}
	if bad > 0 {
		ix.log.Warn("index: unreadable local features ignored", "count", bad)
	}
	return nil
}

// signalBatches gathers signals into one batch of entries per search
// structure, for hamming.Searcher.AddBatch.
type signalBatches map[searchKey]*hamming.Entries

func (b signalBatches) add(t searchKey, ref uint64, frame uint32, hash []byte) {
	e := b[t]
	if e == nil {
		e = new(hamming.Entries)
		b[t] = e
	}
	e.Hashes = appendWords(e.Hashes, hash)
	e.Refs = append(e.Refs, ref)
	e.Frames = append(e.Frames, frame)
}

// dropRefs removes from e the entries of the refs in gone.
func dropRefs(e *hamming.Entries, gone map[uint64]bool) {
	words := len(e.Hashes) / max(1, len(e.Refs))
	k := 0
	for i, r := range e.Refs {
		if gone[r] {
			continue
		}
		copy(e.Hashes[k*words:(k+1)*words], e.Hashes[i*words:(i+1)*words])
		e.Refs[k], e.Frames[k] = r, e.Frames[i]
		k++
	}
	e.Hashes, e.Refs, e.Frames = e.Hashes[:k*words], e.Refs[:k], e.Frames[:k]
}

// build adds each type's batch to the searcher that searcher returns for
// it, the types in parallel (each build is one goroutine's work).
func (b signalBatches) build(searcher func(searchKey) *hamming.Searcher) {
	var wg sync.WaitGroup
	for t, e := range b {
		h := searcher(t)
		wg.Go(func() { h.AddBatch(*e) })
	}
	wg.Wait()
}

// checkLayout writes the layout version into a new store and refuses a
// store written in another layout.
func (ix *Index) checkLayout() error {
	if ix.readOnly {
		// Nothing may be written: an empty store stays without a version.
		return ix.st.view(func(tx *readTx) error {
			v, err := tx.get(layoutKey())
			switch {
			case errors.Is(err, errNoKey):
				return nil
			case err != nil:
				return fmt.Errorf("index: read layout version: %w", err)
			case len(v) != 1 || v[0] != layoutVersion:
				return ix.layoutError(v)
			}
			return nil
		})
	}
	return ix.st.update(func(tx *writeTx) error {
		v, err := tx.get(layoutKey())
		if errors.Is(err, errNoKey) {
			return tx.set(layoutKey(), []byte{layoutVersion})
		}
		if err != nil {
			return fmt.Errorf("index: read layout version: %w", err)
		}
		if len(v) != 1 || v[0] != layoutVersion {
			return ix.layoutError(v)
		}
		return nil
	})
}

// ErrLayout is wrapped by the error of Open for a data dir whose store
// layout version (the key "v") is not this binary's: written by a later
// release, by an earlier one this release cannot migrate, or damaged. The
// error names both versions and what to do; the store is left unread.
var ErrLayout = errors.New("index: store layout version not this binary's")

// layoutError explains why a store recording layout version v cannot be
// opened, and what the operator can do.
func (ix *Index) layoutError(v []byte) error {
	switch {
	case len(v) != 1:
		return fmt.Errorf("%w: data dir %s: store layout version %x is unreadable (want one byte, %d): not a "+
			"mediamatch data dir, or damaged; restore a backup into a new data dir (mediamatch restore --data DIR FILE) "+
			"and start on that", ErrLayout, ix.dir, v, layoutVersion)
	case v[0] > layoutVersion:
		return fmt.Errorf("%w: data dir %s: store layout version %d, newer than this binary's %d: a later "+
			"release of mediamatch wrote it, and this one cannot read it; run that release (or a later one) on it, or "+
			"restore a backup taken with this release into a new data dir (mediamatch restore --data DIR FILE) and "+
			"start on that", ErrLayout, ix.dir, v[0], layoutVersion)
	default:
		return fmt.Errorf("%w: data dir %s: store layout version %d, older than this binary's %d, which has no "+
			"migration from it: run the release that wrote it, or upgrade through a release that migrates layout %d "+
			"(its release notes say which); its data were left as they were", ErrLayout, ix.dir, v[0], layoutVersion, v[0])
	}
}

// purgeBatchKeys bounds the keys deleted in one purge transaction, well
// under Badger's transaction limit.
const purgeBatchKeys = 20000

// purgeLoop deletes the stored items of deleted banks, in batches, whenever
// DeleteBank kicks it and once at start-up.
func (ix *Index) purgeLoop(ctx context.Context) {
	defer close(ix.purgeDone)
	for {
		if err := ix.purge(ctx); err != nil && ctx.Err() == nil {
			ix.log.Error("index: purge of deleted banks failed; retrying later", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Second):
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-ix.purgeKick:
		}
	}
}

// purge deletes the items of every deleted bank and then its tombstone.
func (ix *Index) purge(ctx context.Context) error {
	var banks []uint64
	err := ix.st.view(func(tx *readTx) error {
		return tx.scan([]byte{keyTombstone}, nil, true, func(key, _ []byte) (bool, error) {
			ref, err := parseRefKey(key)
			banks = append(banks, ref)
			return true, err
		})
	})
	if err != nil {
		return err
	}
	for _, b := range banks {
		if err := ix.purgeBank(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func (ix *Index) purgeBank(ctx context.Context, bankRef uint64) error {
	prefix := itemIDPrefix(bankRef)
	prefix[0] = keyItemID
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ix.room(writeRoom, true); err != nil {
			return err
		}
		type gone struct {
			ref  uint64
			sigs []sigEntry
		}
		var (
			batch []gone
			done  bool
		)
		err := ix.st.update(func(tx *writeTx) error {
			batch, done = batch[:0], false
			type entry struct {
				key []byte
				ref uint64
			}
			var items []entry
			err := tx.scan(prefix, nil, false, func(key, val []byte) (bool, error) {
				ref, err := parseRefValue(val)
				items = append(items, entry{append([]byte(nil), key...), ref})
				return len(items) < purgeBatchKeys/4, err
			})
			if err != nil {
				return err
			}
			if len(items) == 0 {
				done = true
				return tx.del(tombstoneKey(bankRef))
			}
			keys := 0
			for _, e := range items {
				m, err := readMedia(&tx.readTx, e.ref)
				if err != nil {
					return err
				}
				n := 3 + len(indexedSignals(m))
				if keys > 0 && keys+n > purgeBatchKeys {
					break
				}
				sigs, err := deleteItemKeys(tx, e.key, e.ref)
				if err != nil {
					return err
				}
				keys += n
				batch = append(batch, gone{e.ref, sigs})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("index: purge bank %d: %w", bankRef, err)
		}
		ix.mem.write(func() {
			for _, g := range batch {
				ix.mem.removeItem(g.ref, g.sigs)
			}
		})
		total += len(batch)
		if done {
			ix.log.Info("index: deleted bank purged", "bank_ref", bankRef, "items", total)
			return nil
		}
	}
}
