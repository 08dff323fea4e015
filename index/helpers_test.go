package index

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// clock is a fake clock that moves one second per reading.
type clock struct{ t time.Time }

func (c *clock) now() time.Time {
	c.t = c.t.Add(time.Second)
	return c.t
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// openTest opens an index in dir (a fresh temp dir if empty) and closes it
// when the test ends, unless the test closed it.
func openTest(t testing.TB, dir string, opts Options) *Index {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ix, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func h64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// flip returns h with n distinct bits flipped, chosen by r.
func flip(r *rand.Rand, h []byte, n int) []byte {
	out := append([]byte(nil), h...)
	for _, b := range r.Perm(len(h) * 8)[:n] {
		out[b/8] ^= 1 << (b % 8)
	}
	return out
}

func phash(h []byte) mediamatch.Signal { return mediamatch.Signal{Type: mediamatch.PHash, Hash: h} }
func dhash(h []byte) mediamatch.Signal { return mediamatch.Signal{Type: mediamatch.DHash, Hash: h} }

// pdq returns a PDQ signal of quality 100; pdqQ one of quality q.
func pdq(h []byte) mediamatch.Signal { return pdqQ(h, 100) }
func pdqQ(h []byte, q int) mediamatch.Signal {
	return mediamatch.Signal{Type: mediamatch.PDQ, Hash: h, Quality: q}
}

// pdqT returns a query's dihedral PDQ variant: the hash of the upload
// turned by tr, quality 100.
func pdqT(h []byte, tr mediamatch.Transform) mediamatch.Signal {
	return mediamatch.Signal{Type: mediamatch.PDQ, Hash: h, Quality: 100, Transform: tr}
}

// h256 returns 32 random bytes from r.
func h256(r *rand.Rand) []byte {
	h := make([]byte, 32)
	for i := range h {
		h[i] = byte(r.Uint32())
	}
	return h
}

// phashOnly is Query.Signals for tests that match with pHash, which is
// indexed but not searched by default.
func phashOnly() []mediamatch.SignalType { return []mediamatch.SignalType{mediamatch.PHash} }
func md5sig(h []byte) mediamatch.Signal {
	return mediamatch.Signal{Type: mediamatch.MD5, Hash: h}
}

// still returns an image with one keyframe holding sigs.
func still(sigs ...mediamatch.Signal) mediamatch.Media {
	return mediamatch.Media{Kind: mediamatch.KindImage, Format: "png", Width: 10, Height: 10,
		Keyframes: []mediamatch.Keyframe{{Signals: sigs}}}
}

// video returns a video whose keyframe i spans [i s, i+1 s) and has a pHash
// of hashes[i].
func video(hashes ...[]byte) mediamatch.Media {
	m := mediamatch.Media{Kind: mediamatch.KindVideo, Format: "mp4",
		Duration: time.Duration(len(hashes)) * time.Second}
	for i, h := range hashes {
		m.Keyframes = append(m.Keyframes, mediamatch.Keyframe{
			Index: i, Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second,
			Signals: []mediamatch.Signal{phash(h)},
		})
	}
	return m
}

func mustBank(t testing.TB, ix *Index, name string) {
	t.Helper()
	if _, err := ix.CreateBank(context.Background(), mediamatch.Bank{Name: name}); err != nil {
		t.Fatalf("CreateBank(%q) = %v", name, err)
	}
}

func mustAdd(t testing.TB, ix *Index, it mediamatch.Item) mediamatch.Item {
	t.Helper()
	got, err := ix.AddItem(context.Background(), it)
	if err != nil {
		t.Fatalf("AddItem(%s/%s) = %v", it.Bank, it.ID, err)
	}
	return got
}

// matchIDs runs q and returns "bank/id" of each match in order.
func matchIDs(t testing.TB, ix *Index, q Query) []string {
	t.Helper()
	ms, err := ix.Match(context.Background(), q)
	if err != nil {
		t.Fatalf("Match = %v", err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.Bank+"/"+m.ItemID)
	}
	return ids
}

// countKeys returns the number of stored keys starting with prefix.
func countKeys(t testing.TB, ix *Index, prefix ...byte) int {
	t.Helper()
	n := 0
	err := ix.st.view(func(tx *readTx) error {
		return tx.scan(prefix, nil, true, func(_, _ []byte) (bool, error) { n++; return true, nil })
	})
	if err != nil {
		t.Fatalf("scan %q: %v", prefix, err)
	}
	return n
}

// addItems adds items to one bank in one transaction: all of them or, on
// any error, none. It is the tests' bulk path for loading benchmarks and
// concurrency tests; the batch must fit in one Badger transaction (a few
// thousand items).
func (ix *Index) addItems(ctx context.Context, bank string, items []mediamatch.Item) error {
	for _, it := range items {
		if it.Bank != bank {
			return invalidf("item.bank", "%q for item %q, want %q", it.Bank, it.ID, bank)
		}
		if err := validateItem(it); err != nil {
			return err
		}
	}
	if err := ix.enter(ctx); err != nil {
		return err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, false); err != nil {
		return err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	b, err := ix.bank(bank)
	if err != nil {
		return err
	}
	now := ix.timestamp()
	adds := make([]*itemAdd, len(items))
	for i, it := range items {
		adds[i] = newItemAdd(ix.nextRef, b.ref, it, now)
		ix.nextRef++
	}
	err = ix.st.update(func(tx *writeTx) error {
		seen := make(map[string]bool, len(adds))
		for _, a := range adds {
			ok, err := tx.has(itemIDKey(b.ref, a.id))
			if err != nil {
				return err
			}
			if ok || seen[a.id] {
				return mediamatch.Errorf(mediamatch.AlreadyExists, "", "item %q in bank %q", a.id, bank)
			}
			seen[a.id] = true
			if err := a.write(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storeErr("add items", bank, err)
	}
	ix.mem.write(func() {
		for _, a := range adds {
			ix.mem.addItem(a.ref, a.rec.meta(), a.sigs)
		}
	})
	return nil
}
