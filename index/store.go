package index

// This file is the only one that touches Badger. The rest of the package
// sees a sorted, transactional key-value store through store, readTx and
// writeTx, with its own errors; Badger's types never leave this file.

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// errNoKey is returned by get when a key is absent.
var errNoKey = errors.New("index: key not found")

// store is a Badger database opened with synchronous writes: a committed
// update is on disk before update returns.
type store struct {
	db *badger.DB
}

// storeTuning overrides Badger settings, for tests in this package; zero
// values keep the defaults.
type storeTuning struct {
	valueThreshold int64 // values larger than this go to the value log (Badger's default: 1 MiB)
	vlogFileSize   int64 // size at which a value-log file is rotated
	compactOnClose bool  // compact level 0 on close, dropping overwritten and deleted values
}

// openStoreMode opens the Badger database in dir; readOnly opens it
// without writing anything (no compaction, no new files), for a disk
// without room.
func openStoreMode(dir string, log *slog.Logger, readOnly bool, tune ...storeTuning) (*store, error) {
	// A 64 MiB block cache instead of Badger's 256: start-up reads every
	// key once (the cache cannot help), and later reads are point reads
	// of a few records (GetItem, imports), so memory is better spent on
	// the in-memory index.
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithBlockCacheSize(64 << 20).
		// Two queued memtables instead of Badger's five. Each is an arena
		// of 1.3 times MemTableSize (83 MiB) in the heap, and a burst of
		// writes holds the queued ones, the one being written and the one
		// being flushed: at most 4 arenas, 333 MiB, not 7. Writes wait for
		// a flush a little sooner instead. MemTableSize stays at Badger's
		// 64 MiB although smaller memtables would take less heap: a
		// transaction may hold only 15% of it, and the import's 2 MiB
		// apply transactions (import.go) already fail with 16 MiB.
		WithNumMemtables(2).
		// No compression, for the heap. Badger builds each table in a
		// buffer from a pool that keeps up to 8 of them, each as large as
		// the largest table it ever built, for as long as tables keep
		// being built: a long import. With Snappy every block is held
		// twice, plain and compressed, and the buffer of an L0 flush (a
		// whole memtable) grows to 124 MiB; without, to 60. A 2M-line
		// import peaked at 860-870 MiB of live heap instead of 1150, a
		// WriteBatch of the same records at 340-400 instead of 960. Reads
		// get cheaper too, as no block is decompressed (start-up from 1M
		// items took 4.1 s instead of 7.9), at about 2.3 times the disk.
		WithCompression(options.None).
		WithLogger(badgerLogger{log}).
		WithMetricsEnabled(false)
	// Tables of 2 MiB on every level, instead of doubling on each level
	// below the base level: the deepest level's tables, and with them the
	// builders' buffers in that pool, would otherwise grow with the store
	// (8 MiB tables at 2M imported lines), and compactions had up to 18
	// builders at once in those imports. More, smaller files cost little.
	opts.TableSizeMultiplier = 1
	opts.ReadOnly = readOnly
	for _, t := range tune {
		if t.valueThreshold > 0 {
			opts.ValueThreshold = t.valueThreshold
		}
		if t.vlogFileSize > 0 {
			opts.ValueLogFileSize = t.vlogFileSize
		}
		opts.CompactL0OnClose = opts.CompactL0OnClose || t.compactOnClose
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("index: open store %s: %w", dir, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("index: close store: %w", err)
	}
	return nil
}

// maxConflictRetries bounds how often update re-runs fn after a write
// conflict. Writers are serialised above the store, so conflicts are rare.
const maxConflictRetries = 8

// update runs fn in a read-write transaction and commits it; fn's writes
// become visible, and durable, together or not at all. fn may run more
// than once if the transaction conflicts with another.
func (s *store) update(fn func(tx *writeTx) error) error {
	for try := 0; ; try++ {
		err := s.db.Update(func(txn *badger.Txn) error { return fn(&writeTx{readTx{txn}}) })
		if errors.Is(err, badger.ErrConflict) && try < maxConflictRetries {
			continue
		}
		return err
	}
}

// view runs fn in a read-only snapshot.
func (s *store) view(fn func(tx *readTx) error) error {
	return s.db.View(func(txn *badger.Txn) error { return fn(&readTx{txn}) })
}

// readTx reads from one consistent snapshot.
type readTx struct {
	txn *badger.Txn
}

// get returns a copy of the value of key, or errNoKey.
func (tx *readTx) get(key []byte) ([]byte, error) {
	it, err := tx.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, errNoKey
	}
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}

// has reports whether key is present.
func (tx *readTx) has(key []byte) (bool, error) {
	_, err := tx.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// scan calls fn for each key with the given prefix, in key order, starting
// at the first key >= start (start nil: the prefix itself). With keysOnly,
// fn gets a nil value and no value is read, the fast path for rebuilding
// the in-memory search. key and val are only valid during the call. fn
// returns false to stop.
func (tx *readTx) scan(prefix, start []byte, keysOnly bool, fn func(key, val []byte) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	// No prefetching: it starts goroutines per value, which costs more
	// than reading our small, inline values one by one.
	opts.PrefetchValues = false
	it := tx.txn.NewIterator(opts)
	defer it.Close()
	if start == nil || bytes.Compare(start, prefix) < 0 {
		start = prefix
	}
	var val []byte
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		if !keysOnly {
			var err error
			if val, err = item.ValueCopy(val[:0]); err != nil {
				return err
			}
		}
		more, err := fn(item.Key(), val)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// writeTx is a read-write transaction. The slices given to set and del
// must not be modified until the transaction ends.
type writeTx struct {
	readTx
}

func (tx *writeTx) set(key, val []byte) error { return tx.txn.Set(key, val) }
func (tx *writeTx) del(key []byte) error      { return tx.txn.Delete(key) }

// badgerLogger routes Badger's warnings and errors to the index logger and
// drops its chatty info and debug lines.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}

func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

// batch is a run of writes that is not a transaction (Badger's
// WriteBatch): much faster for bulk writes, durable once flush returns,
// but neither atomic nor isolated. Imports use it only for keys that no
// reader looks at (staging, see import.go).
type batch struct{ wb *badger.WriteBatch }

func (s *store) newBatch() *batch { return &batch{s.db.NewWriteBatch()} }

// set and del queue a write; the slices must not be modified afterwards.
func (b *batch) set(key, val []byte) error { return b.wb.Set(key, val) }
func (b *batch) del(key []byte) error      { return b.wb.Delete(key) }

// flush writes everything queued and waits for it to be durable.
func (b *batch) flush() error { return b.wb.Flush() }

// cancel drops the batch; writes already sent may still land.
func (b *batch) cancel() { b.wb.Cancel() }

// snapshot opens a read-only snapshot for a run of reads; the caller must
// discard it.
func (s *store) snapshot() *readTx { return &readTx{s.db.NewTransaction(false)} }

// discard releases a snapshot from snapshot.
func (tx *readTx) discard() { tx.txn.Discard() }

// errNoGC is returned by gcValueLog when no value-log file has enough
// garbage to be rewritten, or another GC is running.
var errNoGC = errors.New("index: no value-log file to rewrite")

// gcValueLog rewrites one value-log file of which at least discardRatio
// is garbage (Badger's RunValueLogGC), or returns errNoGC.
func (s *store) gcValueLog(discardRatio float64) error {
	err := s.db.RunValueLogGC(discardRatio)
	if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
		return errNoGC
	}
	return err
}
