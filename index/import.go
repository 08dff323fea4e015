package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Imports apply a partner's list to a bank all or nothing, in three steps,
// so that a list of any size takes constant memory, matches never see half
// of it, and a crash at any point leaves the bank as it was or as the
// whole list makes it:
//
//  1. Stage (Import.Add): each record that would change the bank is
//     written under the import's staging prefix ("j" import seq) with a
//     WriteBatch. Nothing reads staging keys; records already in the bank
//     as given are counted and dropped here.
//  2. Commit (Import.Commit): one synchronous write of the import's
//     marker ("J" import, holding the bank) is the commit point.
//  3. Apply: the staged records are applied in order, in transactions of
//     bounded size, each also recording in the marker the next record to
//     apply, so a crash resumes where it stopped. The writer lock is held
//     throughout and memory is published once, at the end. The last
//     transaction marks the import applied; the staging keys and then the
//     marker are deleted in the background.
//
// At Open, imports with a marker are applied to the end before the index
// serves (roll forward); staging keys without a marker are deleted (roll
// back). Re-applying a record is a no-op, so a repeat is harmless.

// ImportRecord is one record of a list: an item to add or replace, or,
// with Delete, the id of an item to remove.
type ImportRecord struct {
	Item   mediamatch.Item // Bank is ignored: the import's bank
	Delete bool
	Line   int // where the record starts in the list, for errors; 0: unknown
	// IDFromHash says that the list gave no id and Item.ID was made from
	// a hash: a later record of the same hash is the same hash listed
	// again, with other details, and replaces the earlier as an update
	// would, instead of being refused (see Add).
	IDFromHash bool
}

// Import is an import in progress: create it with BeginImport, stage
// records with Add, then Commit or Abort. Its methods must be called from
// one goroutine; imports into other banks, writes and matches go on
// meanwhile.
type Import struct {
	ix    *Index
	bank  *bankState
	id    uint64
	seq   uint64
	b     *batch
	rtx   *readTx // snapshot for comparing records with the bank, renewed now and then
	reads int
	bytes int   // staged since the last flush
	total int64 // staged in all
	stats mediamatch.ImportStats
	now   time.Time
	done  bool

	// seen maps a keyed hash of each id given so far to the line where
	// it was first given (low 32 bits) and a hash of what that record
	// says (high 32 bits): a later record of the same id that says
	// something else is refused. About 24 bytes of memory per record.
	seen  map[uint64]uint64
	seed  maphash.Seed
	token string // if set, the token that must still be valid at Commit

	// exchange and checkpoint, if set, are the exchange this import is a
	// page of and the checkpoint it ends at (SetCheckpoint, exchange.go).
	exchange, checkpoint string
}

// Staging records.
const (
	stageAdd byte = 1
	stageDel byte = 2
	// importFlushBytes bounds what a staging batch holds before it is
	// flushed, and applyTxnBytes what one apply transaction writes.
	importFlushBytes = 4 << 20
	applyTxnBytes    = 2 << 20
)

func importKey(id uint64) []byte { return binary.BigEndian.AppendUint64([]byte{keyImport}, id) }

func stagePrefix(id uint64) []byte { return binary.BigEndian.AppendUint64([]byte{keyStage}, id) }

func stageKey(id, seq uint64) []byte { return binary.BigEndian.AppendUint64(stagePrefix(id), seq) }

// BeginImport starts an import into bank. Errors: mediamatch.ErrInvalid for a
// malformed name, mediamatch.ErrNotFound if the bank does not exist, mediamatch.ErrClosed.
func (ix *Index) BeginImport(ctx context.Context, bank string) (*Import, error) {
	if err := mediamatch.ValidateBankName("bank", bank); err != nil {
		return nil, err
	}
	if err := ix.enter(ctx); err != nil {
		return nil, err
	}
	defer ix.exit()
	b, err := ix.bank(bank)
	if err != nil {
		return nil, err
	}
	if err := ix.room(importFlushBytes, false); err != nil {
		return nil, err
	}
	ix.wmu.Lock()
	id := ix.nextImport
	ix.nextImport++
	ix.wmu.Unlock()
	return &Import{ix: ix, bank: b, id: id, b: ix.st.newBatch(), now: ix.timestamp(),
		seen: make(map[uint64]uint64), seed: maphash.MakeSeed()}, nil
}

// RequireToken makes Commit refuse, with an mediamatch.ErrUnauthenticated error and
// nothing applied, unless the token with this id is still live (not
// revoked, not expired) at the commit point: a token revoked while its
// import streams in does not get the import applied. The check is made
// under the index's writer lock, so a RevokeToken that returned before
// Commit's commit point always wins.
func (im *Import) RequireToken(id string) { im.token = id }

// repeated records the record r with the content hash sum (0 for a
// delete), and returns an mediamatch.ErrInvalid error if r gives an item that an
// earlier record of the import already gave with other content, with no
// delete in between: two versions of one item in one list are ambiguous.
// A list is a sequence of updates, so a delete after a put (te-updates
// pages retract records), a put after a delete, and an exact repeat (which
// changes nothing, and counts as unchanged) are no error.
func (im *Import) repeated(r ImportRecord, sum uint64) error {
	k := maphash.String(im.seed, r.Item.ID)
	v := sum<<32 | uint64(uint32(r.Line))
	old, ok := im.seen[k]
	switch {
	case !ok || r.Delete || old>>32 == 0 || r.IDFromHash:
		im.seen[k] = v
		return nil
	case old>>32 == v>>32:
		return nil
	}
	where := "an earlier record"
	if l := uint32(old); l > 0 {
		where = fmt.Sprintf("line %d", l)
	}
	return invalidf("item.id", "%q was already given at %s with other content; one version of an item per list "+
		"(the first is kept; delete it first to replace it)", r.Item.ID, where)
}

// Add stages one record. Errors: mediamatch.ErrInvalid if the record's item is
// invalid, or if an earlier record of the import gave its id with other
// content and no delete in between (unless the id was made from a hash,
// IDFromHash): the import goes on, and the caller decides whether to skip
// it or Abort; mediamatch.ErrNoSpace when the disk is short of room, mediamatch.ErrClosed, a
// storage error or the context's error (after which only Abort is
// useful).
func (im *Import) Add(ctx context.Context, r ImportRecord) error {
	if im.done {
		return fmt.Errorf("index: import %d: %w", im.id, errImportDone)
	}
	r.Item.Bank = im.bank.bank.Name
	if err := mediamatch.ValidateItemID("item.id", r.Item.ID); err != nil {
		return err
	}
	if !r.Delete {
		if err := validateItem(r.Item); err != nil {
			return err
		}
		if src := r.Item.Source; src != nil && (src.FirstSeen.IsZero() || src.Updated.IsZero()) {
			c := *src
			if c.FirstSeen.IsZero() {
				c.FirstSeen = im.now
			}
			if c.Updated.IsZero() {
				c.Updated = im.now
			}
			r.Item.Source = &c
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var val []byte
	if r.Delete {
		if err := im.repeated(r, 0); err != nil {
			return err
		}
		val = append([]byte{stageDel}, r.Item.ID...)
	} else {
		a := newItemAdd(0, im.bank.ref, r.Item, im.now)
		var h maphash.Hash
		h.SetSeed(im.seed)
		h.Write(encodeItem(a.rec))
		h.Write(a.media)
		if err := im.repeated(r, h.Sum64()|1); err != nil {
			return err
		}
		// A snapshot serves many records: a fresh one per record costs
		// more than the reads. Later writes to the bank are checked again
		// when the record is applied.
		if im.rtx == nil || im.reads >= 4096 {
			im.closeSnapshot()
			im.rtx = im.ix.st.snapshot()
		}
		im.reads++
		_, same, err := sameItem(im.rtx, a)
		if err != nil {
			return storeErr("import", im.bank.bank.Name+"/"+r.Item.ID, err)
		}
		if same {
			im.stats.Unchanged++
			return nil
		}
		var e encoder
		e.byte(stageAdd)
		e.bytes(encodeItem(a.rec))
		e.bytes(a.media)
		val = e.b
	}
	if im.bytes == 0 {
		// Each batch of importFlushBytes starts with room for it.
		if err := im.ix.room(importFlushBytes, false); err != nil {
			return err
		}
	}
	if err := im.b.set(stageKey(im.id, im.seq), val); err != nil {
		return storeErr("import", "stage", err)
	}
	im.seq++
	im.total += int64(len(val) + 32)
	if im.bytes += len(val) + 32; im.bytes >= importFlushBytes {
		if err := im.b.flush(); err != nil {
			return storeErr("import", "stage", err)
		}
		im.b, im.bytes = im.ix.st.newBatch(), 0
	}
	return nil
}

var errImportDone = errors.New("import already committed or aborted")

func (im *Import) closeSnapshot() {
	if im.rtx != nil {
		im.rtx.discard()
		im.rtx, im.reads = nil, 0
	}
}

// Abort drops the staged records; the bank is as it was.
func (im *Import) Abort() error {
	if im.done {
		return nil
	}
	im.done = true
	im.closeSnapshot()
	im.b.cancel()
	return im.ix.dropStaging(im.id)
}

// Commit applies the staged records: from its return the bank holds the
// whole list, and matches see it all at once. Errors: mediamatch.ErrClosed, mediamatch.ErrNotFound
// if the bank was deleted meanwhile, or a storage error; after an error in
// the apply step the import completes at the next Open.
func (im *Import) Commit(ctx context.Context) (mediamatch.ImportStats, error) {
	if im.done {
		return im.stats, fmt.Errorf("index: import %d: %w", im.id, errImportDone)
	}
	im.done = true
	im.closeSnapshot()
	ix := im.ix
	if err := im.b.flush(); err != nil {
		ix.dropStaging(im.id)
		return im.stats, storeErr("import", "stage", err)
	}
	if err := ix.enter(ctx); err != nil {
		ix.dropStaging(im.id)
		return im.stats, err
	}
	defer ix.exit()
	// The apply writes about what was staged again, and must not run out
	// of room once the marker is written.
	if err := ix.room(2*im.total, false); err != nil {
		ix.dropStaging(im.id)
		return im.stats, err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if im.token != "" {
		if err := ix.liveToken(im.token); err != nil {
			ix.dropStaging(im.id)
			return im.stats, fmt.Errorf("index: import into bank %q not applied: %w", im.bank.bank.Name, err)
		}
	}
	if _, err := ix.bank(im.bank.bank.Name); err != nil || ix.mem.state().bankByRef[im.bank.ref] == nil {
		ix.dropStaging(im.id)
		return im.stats, mediamatch.Errorf(mediamatch.NotFound, "", "bank %q", im.bank.bank.Name)
	}
	err := ix.st.update(func(tx *writeTx) error {
		if im.exchange != "" {
			// Committed with the marker, applied with its last record.
			if err := tx.set(importCheckpointKey(im.id), encodeImportCheckpoint(im.exchange, im.checkpoint)); err != nil {
				return err
			}
		}
		return tx.set(importKey(im.id), markerValue(im.bank.ref, 0))
	})
	if err != nil {
		ix.dropStaging(im.id)
		return im.stats, storeErr("import", "commit", err)
	}
	var st mediamatch.ImportStats
	ix.mem.write(func() {
		ix.mem.beginBulk()
		defer ix.mem.endBulk()
		st, err = ix.applyImport(im.id, im.bank.ref, 0)
	})
	st.Unchanged += im.stats.Unchanged
	if err == nil {
		ix.cleaning.Go(func() { ix.cleanImport(im.id) })
	}
	return st, err
}

// markerValue is the value of an import's marker: the bank, and the seq of
// the next staged record to apply (appliedSeq once all are).
func markerValue(bankRef, next uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, bankRef), next)
}

// appliedSeq in a marker means the import is applied; only its staging
// keys are left to delete.
const appliedSeq = math.MaxUint64

// cleanImport deletes the staging keys of an applied import, then its
// marker. It runs in the background; Open finishes what it did not.
func (ix *Index) cleanImport(id uint64) {
	if err := ix.enter(context.Background()); err != nil {
		return
	}
	defer ix.exit()
	if err := ix.dropStaging(id); err != nil {
		ix.log.Warn("index: cleaning an applied import failed; retried at the next start", "import", id, "err", err)
		return
	}
	if err := ix.st.update(func(tx *writeTx) error { return tx.del(importKey(id)) }); err != nil {
		ix.log.Warn("index: cleaning an applied import failed; retried at the next start", "import", id, "err", err)
	}
}

// applyImport applies the staged records of a committed import from seq
// from on, marks it applied, and returns what it did. The caller holds wmu
// and mem.mu.
func (ix *Index) applyImport(id, bankRef, from uint64) (mediamatch.ImportStats, error) {
	var st mediamatch.ImportStats
	prefix := stagePrefix(id)
	start := stageKey(id, from)
	for txn := 0; ; txn++ {
		if ix.importFault != nil {
			if err := ix.importFault(txn); err != nil {
				return st, err
			}
		}
		if err := ix.room(2*int64(ix.importTxn), true); err != nil {
			return st, err
		}
		var (
			mem  []func() // memory changes, made once the transaction commits
			stat mediamatch.ImportStats
			next []byte
		)
		err := ix.st.update(func(tx *writeTx) error {
			mem, stat, next = mem[:0], mediamatch.ImportStats{}, nil
			size := 0
			var failed error
			err := tx.scan(prefix, start, false, func(key, val []byte) (bool, error) {
				if size >= ix.importTxn {
					next = append([]byte(nil), key...)
					return false, nil
				}
				size += len(val) + 64
				f, err := ix.applyStaged(tx, bankRef, val, &stat)
				if err != nil {
					failed = fmt.Errorf("staged record %x: %w", key, err)
					return false, nil
				}
				if f != nil {
					mem = append(mem, f)
				}
				return true, nil
			})
			if err == nil {
				err = failed
			}
			if err != nil {
				return err
			}
			seq := uint64(appliedSeq)
			if next != nil {
				seq = binary.BigEndian.Uint64(next[9:])
			} else if err := applyCheckpoint(tx, id, addStats(st, stat)); err != nil {
				// An exchange's checkpoint moves in the write that
				// applies the end of the page it covers.
				return err
			}
			return tx.set(importKey(id), markerValue(bankRef, seq))
		})
		if err != nil {
			return st, storeErr("import", "apply", err)
		}
		for _, f := range mem {
			f()
		}
		st.Added += stat.Added
		st.Updated += stat.Updated
		st.Deleted += stat.Deleted
		st.Unchanged += stat.Unchanged
		if next == nil {
			return st, nil
		}
		start = next
	}
}

// applyStaged writes one staged record in tx and returns the change to
// make in memory once tx commits.
func (ix *Index) applyStaged(tx *writeTx, bankRef uint64, val []byte, st *mediamatch.ImportStats) (func(), error) {
	d := decoder{b: val}
	op := d.byte()
	if op == stageDel {
		id := string(d.b)
		v, err := tx.get(itemIDKey(bankRef, id))
		if errors.Is(err, errNoKey) {
			st.Unchanged++
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		ref, err := parseRefValue(v)
		if err != nil {
			return nil, err
		}
		sigs, err := deleteItemKeys(tx, itemIDKey(bankRef, id), ref)
		if err != nil {
			return nil, err
		}
		st.Deleted++
		return func() { ix.mem.removeItem(ref, sigs) }, nil
	}
	recBytes, mediaBytes := d.raw(), d.bytes() // val is reused by the scan; the media is kept until commit
	if err := d.done("staged record"); err != nil || op != stageAdd {
		return nil, fmt.Errorf("index: staged record: %w", errCorrupt)
	}
	rec, err := decodeItem(recBytes)
	if err != nil {
		return nil, err
	}
	m, err := decodeMedia(mediaBytes)
	if err != nil {
		return nil, err
	}
	a := &itemAdd{bank: bankRef, id: rec.id, rec: rec, media: mediaBytes, sigs: indexedSignals(m)}
	a.rec.frameTypes = frameTypeMasks(len(m.Keyframes), a.sigs)
	old, same, err := sameItem(&tx.readTx, a)
	if err != nil || same {
		if same {
			st.Unchanged++
		}
		return nil, err
	}
	var oldSigs []sigEntry
	if old != nil {
		// Keep what the bank knows of the item: its creation, its first
		// sighting and a curator's disabling.
		a.rec.created, a.rec.disabled = old.rec.created, old.rec.disabled
		if a.rec.source != nil && old.rec.source != nil && !old.rec.source.FirstSeen.IsZero() {
			a.rec.source.FirstSeen = old.rec.source.FirstSeen
		}
		if oldSigs, err = deleteItemKeys(tx, itemIDKey(bankRef, a.id), old.ref); err != nil {
			return nil, err
		}
		st.Updated++
	} else {
		st.Added++
	}
	a.ref = ix.nextRef
	ix.nextRef++
	if err := a.write(tx); err != nil {
		return nil, err
	}
	return func() {
		if old != nil {
			ix.mem.removeItem(old.ref, oldSigs)
		}
		ix.mem.addItem(a.ref, a.rec.meta(), a.sigs)
	}, nil
}

// storedItem is an item as read back for comparison.
type storedItem struct {
	ref   uint64
	rec   itemRecord
	media []byte
}

// sameItem looks up a's id in its bank and reports whether the stored item
// already has a's media, labels and source (apart from the source's
// times); old is nil if there is no such item.
func sameItem(tx *readTx, a *itemAdd) (old *storedItem, same bool, err error) {
	v, err := tx.get(itemIDKey(a.bank, a.id))
	if errors.Is(err, errNoKey) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	ref, err := parseRefValue(v)
	if err != nil {
		return nil, false, err
	}
	rec, err := readRecord(tx, ref)
	if err != nil {
		return nil, false, err
	}
	media, err := tx.get(mediaKey(ref))
	if err != nil {
		return nil, false, err
	}
	old = &storedItem{ref: ref, rec: rec, media: media}
	return old, bytes.Equal(media, a.media) && sameMeta(rec, a.rec), nil
}

// sameMeta compares what an import sets: labels and source, without times.
func sameMeta(a, b itemRecord) bool {
	if len(a.labels) != len(b.labels) {
		return false
	}
	for k, v := range a.labels {
		if w, ok := b.labels[k]; !ok || w != v {
			return false
		}
	}
	sa, sb := a.source, b.source
	if sa == nil || sb == nil {
		return sa == sb
	}
	if sa.Format != sb.Format || sa.Partner != sb.Partner || sa.UpstreamID != sb.UpstreamID || len(sa.Tags) != len(sb.Tags) {
		return false
	}
	for i := range sa.Tags {
		if sa.Tags[i] != sb.Tags[i] {
			return false
		}
	}
	return true
}

// dropStaging deletes the staging keys of an import that was not
// committed.
func (ix *Index) dropStaging(id uint64) error {
	if err := ix.room(writeRoom, true); err != nil {
		return err // the staging keys are dropped at the next Open
	}
	b := ix.st.newBatch()
	err := ix.st.view(func(tx *readTx) error {
		return tx.scan(stagePrefix(id), nil, true, func(key, _ []byte) (bool, error) {
			return true, b.del(append([]byte(nil), key...))
		})
	})
	if err != nil {
		b.cancel()
		return storeErr("import", "abort", err)
	}
	if err := b.flush(); err != nil {
		return storeErr("import", "abort", err)
	}
	return nil
}

// recoverImports runs at Open, after load and before the index serves: it
// finishes every committed import and drops the staging keys of the
// others. It also sets nextImport past every import id seen.
func (ix *Index) recoverImports() error {
	type marker struct{ bank, next uint64 }
	committed := map[uint64]marker{}
	staged := map[uint64]bool{}
	err := ix.st.view(func(tx *readTx) error {
		err := tx.scan([]byte{keyImport}, nil, false, func(key, val []byte) (bool, error) {
			id, err := parseRefKey(key)
			if err != nil || len(val) != 16 {
				return false, fmt.Errorf("index: import marker %x: %w", key, errCorrupt)
			}
			committed[id] = marker{binary.BigEndian.Uint64(val), binary.BigEndian.Uint64(val[8:])}
			return true, nil
		})
		if err != nil {
			return err
		}
		// One seek per import: jump past each import's staging keys.
		seek := []byte{keyStage}
		for {
			var id uint64
			found := false
			err := tx.scan([]byte{keyStage}, seek, true, func(key, _ []byte) (bool, error) {
				if len(key) != 17 {
					return false, fmt.Errorf("index: staging key %x: %w", key, errCorrupt)
				}
				id, found = binary.BigEndian.Uint64(key[1:9]), true
				return false, nil
			})
			if err != nil || !found {
				return err
			}
			staged[id] = true
			seek = stagePrefix(id + 1)
		}
	})
	if err != nil {
		return fmt.Errorf("index: recover imports: %w", err)
	}
	if ix.readOnly {
		// Nothing can be written: staging keys stay (nothing reads them),
		// but a committed import that is not fully applied would serve
		// half a list.
		for id, mk := range committed {
			ix.nextImport = max(ix.nextImport, id+1)
			if mk.next != appliedSeq && ix.mem.state().bankByRef[mk.bank] != nil {
				return &mediamatch.Error{Code: mediamatch.NoSpace, Msg: fmt.Sprintf("import %d was committed but not fully applied, "+
					"and there is no room to finish it (no space): free space in the data dir and start again", id)}
			}
		}
		for id := range staged {
			ix.nextImport = max(ix.nextImport, id+1)
		}
		return nil
	}
	for id, mk := range committed {
		ix.nextImport = max(ix.nextImport, id+1)
		if mk.next == appliedSeq || ix.mem.state().bankByRef[mk.bank] == nil { // applied, or bank deleted: clean up
			if err := ix.dropStaging(id); err != nil {
				return err
			}
			if err := ix.st.update(func(tx *writeTx) error {
				if err := tx.del(importCheckpointKey(id)); err != nil {
					return err
				}
				return tx.del(importKey(id))
			}); err != nil {
				return err
			}
			continue
		}
		var st mediamatch.ImportStats
		ix.mem.write(func() {
			ix.mem.beginBulk()
			defer ix.mem.endBulk()
			st, err = ix.applyImport(id, mk.bank, mk.next)
		})
		if err != nil {
			return err
		}
		ix.cleanImport(id)
		ix.log.Info("index: interrupted import finished", "import", id, "added", st.Added,
			"updated", st.Updated, "deleted", st.Deleted, "unchanged", st.Unchanged)
	}
	for id := range staged {
		ix.nextImport = max(ix.nextImport, id+1)
		if _, ok := committed[id]; ok {
			continue
		}
		if err := ix.dropStaging(id); err != nil {
			return err
		}
		ix.log.Info("index: uncommitted import dropped", "import", id)
	}
	return nil
}
