package index

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Options configure Open. The zero value of each field is a sane default.
type Options struct {
	// Logger receives warnings and errors, Badger's included; nil discards them.
	Logger *slog.Logger
	// Now is the clock for create and update times; nil means time.Now.
	Now func() time.Time

	// MinFreeBytes is the free space, in bytes, kept in reserve on the file
	// system of the index's dir. Badger maps its files into memory, and a
	// write into a mapping when the disk is full kills the process
	// (SIGBUS), so the index checks the free space (statfs) before each
	// write, and before each 4 MiB of an import: writes that would leave
	// less than the reserve are refused with mediamatch.ErrNoSpace; deletes,
	// revocations, audit entries and the apply of a committed import may
	// use half of it, so that an operator can still recover. An import's
	// Commit wants room for twice what it staged on top of the reserve.
	// Open with less than the reserve free opens the store read-only:
	// matches and reads are served, every write is refused with
	// mediamatch.ErrNoSpace, until space is freed and the index reopened. Default
	// DefaultMinFreeBytes (1 GiB); negative turns the checks off. Only
	// Linux can tell the free space; elsewhere there are no checks.
	MinFreeBytes int64
	// MaxPageBytes bounds a page of ListItems (and so of an export's
	// reads) by the size of its items, estimated from their signals and
	// labels, as well as by count: a page holds as many items as fit,
	// and always at least one. Default DefaultMaxPageBytes (2 MiB), so
	// that a page fits in gRPC's usual 4 MiB message whatever its items.
	MaxPageBytes int
	// AuditRetention is how long audit entries are kept: older ones are
	// deleted in the background (at start-up, hourly, and as entries are
	// appended), in transactions of at most 1000 entries. Default
	// DefaultAuditRetention (90 days); negative keeps them forever.
	AuditRetention time.Duration
	// AuditMaxEntries bounds the audit log: beyond it the oldest entries
	// are deleted in the same way. Default DefaultAuditMaxEntries
	// (1,000,000, some 200 MB); negative means no bound.
	AuditMaxEntries int
	// VlogGCInterval is how often Badger's value log is garbage-collected
	// in the background: each round rewrites the value-log files of which
	// half or more is deleted or overwritten values, until none is left
	// (see RunValueLogGC). Default DefaultVlogGCInterval (10 minutes);
	// negative turns the background GC off. No GC runs on an index opened
	// read-only.
	VlogGCInterval time.Duration
	// SearchObserved, if set, is called at the end of each Match, once for
	// each perceptual signal type the query searched, with the time spent
	// in that type's search structures over all the query's keyframes
	// (not the time to gather and rank the candidates); on the calling
	// goroutine, so it must be fast and safe for concurrent use. Exact
	// types (MD5, SHA-256) are never reported: their lookups take no time
	// worth measuring.
	SearchObserved func(t mediamatch.SignalType, d time.Duration)

	// For tests in this package.
	noPurge     bool                // leave deleted banks' items for a later Open
	importTxn   int                 // bytes of staged records per apply transaction; 0: applyTxnBytes
	importFault func(txn int) error // if set, called before each apply transaction; an error stops the apply as a crash would
	tune        storeTuning         // Badger settings
}

// Defaults of the audit log's retention (see Options).
const (
	DefaultAuditRetention  = 90 * 24 * time.Hour
	DefaultAuditMaxEntries = 1_000_000
)

// DefaultMaxPageBytes is the default of Options.MaxPageBytes.
const DefaultMaxPageBytes = 2 << 20

// DefaultMinFreeBytes is the default of Options.MinFreeBytes: 1 GiB, room
// for Badger to flush its memtables (64 MiB each) and compact.
const DefaultMinFreeBytes = 1 << 30

// Index is an open index: banks, items and signals in Badger, and the
// in-memory search built from them. Create it with Open and release it with
// Close. All its methods are safe for concurrent use.
type Index struct {
	log *slog.Logger
	now func() time.Time
	st  *store
	mem *memory

	dir       string
	pageBytes int   // Options.MaxPageBytes
	minFree   int64 // Options.MinFreeBytes; negative: no checks
	readOnly  bool  // opened read-only for want of space: every write is mediamatch.ErrNoSpace

	closeMu sync.RWMutex // held shared by every call, exclusively by Close
	closed  bool

	wmu         sync.Mutex // serialises writers: store commit, then memory update
	nextRef     uint64     // next item ref; guarded by wmu
	nextBankRef uint64     // next bank ref; guarded by wmu
	nextImport  uint64     // next import id; guarded by wmu

	pageKey cipher.AEAD // seals ListBanks page tokens; random per Open

	tok   tokenState // the token store (auth.go)
	audit auditState // the audit log (audit.go)

	importFault func(int) error
	importTxn   int
	cleaning    sync.WaitGroup // background clean-ups of applied imports

	purgeKick chan struct{}
	purgeStop context.CancelFunc
	purgeDone chan struct{}

	vlog vlogGC // the value-log GC (vlog.go)

	searchObserved func(mediamatch.SignalType, time.Duration) // Options.SearchObserved
}

// Open opens the index stored in dir, creating dir and an empty index if
// needed, and loads the in-memory search from it. It makes dir 0700 and
// its files 0600 (see tightenModes), and opens the store read-only when
// the disk has less than Options.MinFreeBytes free. It fails if dir cannot
// be created or made private, the store cannot be opened (for example
// because another process has it open) or holds data in an unknown
// format, or, read-only, if a committed import is left to finish.
func Open(dir string, opts Options) (*Index, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("index: open: %w", err)
	}
	if err := tightenModes(dir, log); err != nil {
		return nil, err
	}
	minFree := opts.MinFreeBytes
	if minFree == 0 {
		minFree = DefaultMinFreeBytes
	}
	readOnly := false
	if free, ok := freeBytes(dir); ok && minFree > 0 && free < minFree {
		readOnly = true
		log.Error("index: too little free space: opened read-only, serving matches and reads and refusing "+
			"every write; free space and restart", "dir", dir, "free_bytes", free, "min_free_bytes", minFree)
	}
	st, err := openStoreMode(dir, log, readOnly, opts.tune)
	if err != nil {
		return nil, err
	}
	// Badger creates its files 0644 (less the umask): the 0700 dir
	// already keeps others out, and tightenModes takes group and other
	// access away from the files in it too.
	if err := tightenModes(dir, log); err != nil {
		st.close()
		return nil, err
	}
	var key [32]byte
	rand.Read(key[:])
	block, err := aes.NewCipher(key[:])
	if err != nil {
		st.close()
		return nil, fmt.Errorf("index: open: %w", err)
	}
	pageKey, err := cipher.NewGCM(block)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("index: open: %w", err)
	}
	ix := &Index{
		pageKey:     pageKey,
		dir:         dir,
		pageBytes:   cmp.Or(max(opts.MaxPageBytes, 0), DefaultMaxPageBytes),
		minFree:     minFree,
		readOnly:    readOnly,
		log:         log,
		now:         now,
		st:          st,
		mem:         newMemory(),
		nextRef:     1,
		nextBankRef: 1,
		purgeKick:   make(chan struct{}, 1),
		importFault: opts.importFault,
		importTxn:   cmp.Or(opts.importTxn, applyTxnBytes),
		purgeDone:   make(chan struct{}),
		audit: auditState{
			keep: cmp.Or(opts.AuditRetention, DefaultAuditRetention),
			max:  int64(cmp.Or(opts.AuditMaxEntries, DefaultAuditMaxEntries)),
			kick: make(chan struct{}, 1),
			done: make(chan struct{}),
		},
		searchObserved: opts.SearchObserved,
		vlog: vlogGC{
			interval: cmp.Or(opts.VlogGCInterval, DefaultVlogGCInterval),
			done:     make(chan struct{}),
		},
	}
	start := time.Now()
	if err := ix.load(); err != nil {
		st.close()
		return nil, err
	}
	if err := ix.loadTokens(); err != nil {
		ix.mem.wait()
		st.close()
		return nil, err
	}
	if err := ix.recoverImports(); err != nil {
		ix.mem.wait()
		st.close()
		return nil, err
	}
	if err := ix.countAudit(); err != nil {
		ix.mem.wait()
		st.close()
		return nil, err
	}
	log.Info("index loaded", "dir", dir, "banks", len(ix.mem.state().banks), "items", ix.mem.state().nitems,
		"elapsed", time.Since(start))
	ctx, cancel := context.WithCancel(context.Background())
	ix.purgeStop = cancel
	if opts.noPurge || readOnly {
		close(ix.purgeDone)
	} else {
		go ix.purgeLoop(ctx)
	}
	if readOnly {
		close(ix.audit.done)
	} else {
		go ix.auditLoop(ctx)
	}
	if readOnly || ix.vlog.interval < 0 {
		close(ix.vlog.done)
	} else {
		go ix.vlogLoop(ctx)
	}
	return ix, nil
}

// Close waits for calls in progress, stops the background purge of deleted
// banks (it resumes at the next Open) and the value-log GC, and closes the
// store. Calls after
// Close, and a second Close, return mediamatch.ErrClosed.
func (ix *Index) Close() error {
	ix.closeMu.Lock()
	if ix.closed {
		ix.closeMu.Unlock()
		return mediamatch.ErrClosed
	}
	ix.closed = true
	ix.closeMu.Unlock()
	ix.purgeStop()
	<-ix.purgeDone
	<-ix.audit.done
	<-ix.vlog.done
	// Let background segment merges finish so none outlives the index.
	ix.mem.wait()
	return ix.st.close()
}

// enter admits a call unless the index is closed; the caller must call exit.
func (ix *Index) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.closeMu.RLock()
	if ix.closed {
		ix.closeMu.RUnlock()
		return mediamatch.ErrClosed
	}
	return nil
}

func (ix *Index) exit() { ix.closeMu.RUnlock() }

// tightenModes makes the data dir 0700 and its files 0600: the index
// holds the hashes of every bank and the token hashes, which no other user
// of the host may read. A looser dir (made by `mkdir -p`, or by an older
// version) is tightened with a warning naming its mode and those of the
// files it exposed; files Badger made inside the 0700 dir (0644 less the
// umask) are tightened quietly. A dir whose mode cannot be changed (not
// its owner) is an error, so that the server never serves from a data
// dir others can read.
func tightenModes(dir string, log *slog.Logger) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("index: open: %w", err)
	}
	dirPerm := fi.Mode().Perm()
	if dirPerm&0o077 != 0 {
		if err := os.Chmod(dir, dirPerm&0o700|0o700); err != nil {
			return fmt.Errorf("index: open: data dir %s has mode %04o, readable by other users, and cannot be "+
				"made 0700: %w (chmod 0700 it, or run the server as its owner)", dir, dirPerm, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("index: open: %w", err)
	}
	var loose []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			p := filepath.Join(dir, e.Name())
			if err := os.Chmod(p, perm&0o600); err != nil {
				return fmt.Errorf("index: open: %s has mode %04o and cannot be made 0600: %w", p, perm, err)
			}
			loose = append(loose, fmt.Sprintf("%s %04o", e.Name(), perm))
		}
	}
	if dirPerm&0o077 != 0 {
		log.Warn("index: the data dir was open to other users: made it 0700 and its files 0600", "dir", dir,
			"mode", fmt.Sprintf("%04o", dirPerm), "files", len(loose), "file_modes", strings.Join(loose[:min(len(loose), 10)], ", "))
	}
	return nil
}

// room returns an mediamatch.ErrNoSpace error unless the file system of the index has
// need bytes free beyond the reserve (Options.MinFreeBytes), or beyond half
// of it for recovery: deletes, revocations, audit entries, the apply of a
// committed import. A read-only index has no room.
func (ix *Index) room(need int64, recovery bool) error {
	if ix.readOnly {
		return mediamatch.Errorf(mediamatch.NoSpace, "", "no space: the index is read-only: it was opened with less than %d bytes "+
			"(the reserve, MinFreeBytes) free in its data dir; free space and restart the server", ix.minFree)
	}
	if ix.minFree < 0 {
		return nil
	}
	free, ok := freeBytes(ix.dir)
	if !ok {
		return nil
	}
	reserve := ix.minFree
	if recovery {
		reserve /= 2
	}
	if free-need < reserve {
		return mediamatch.Errorf(mediamatch.NoSpace, "", "no space: %d bytes free in the data dir, want %d for this write "+
			"beyond the reserve of %d bytes (MinFreeBytes); free space and retry", free, need, reserve)
	}
	return nil
}

// writeRoom is the room an ordinary write needs: its size is small next to
// the reserve.
const writeRoom = 1 << 20

// timestamp returns the current time as stored: UTC, nanoseconds, no
// monotonic reading.
func (ix *Index) timestamp() time.Time { return ix.now().UTC().Round(0) }

// CreateBank creates an empty bank named b.Name with b.Description (at most
// 1024 bytes of UTF-8); CreateTime and ItemCount are ignored and the stored
// bank is returned. Errors: mediamatch.ErrInvalid for a bad name or description,
// mediamatch.ErrAlreadyExists if the name is taken, mediamatch.ErrClosed, or a storage error. Safe
// for concurrent use.
func (ix *Index) CreateBank(ctx context.Context, b mediamatch.Bank) (mediamatch.Bank, error) {
	if err := mediamatch.ValidateBankName("bank.name", b.Name); err != nil {
		return mediamatch.Bank{}, err
	}
	if err := mediamatch.ValidateDescription("bank.description", b.Description); err != nil {
		return mediamatch.Bank{}, err
	}
	if err := ix.enter(ctx); err != nil {
		return mediamatch.Bank{}, err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, false); err != nil {
		return mediamatch.Bank{}, err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()

	_, exists := ix.mem.state().banks[b.Name]
	if exists {
		return mediamatch.Bank{}, mediamatch.Errorf(mediamatch.AlreadyExists, "", "bank %q", b.Name)
	}
	rec := bankRecord{ref: ix.nextBankRef, description: b.Description, created: ix.timestamp()}
	ix.nextBankRef++
	err := ix.st.update(func(tx *writeTx) error {
		if ok, err := tx.has(bankKey(b.Name)); err != nil || ok {
			if ok {
				err = mediamatch.Errorf(mediamatch.AlreadyExists, "", "bank %q", b.Name)
			}
			return err
		}
		return tx.set(bankKey(b.Name), encodeBank(rec))
	})
	if err != nil {
		return mediamatch.Bank{}, storeErr("create bank", b.Name, err)
	}
	out := mediamatch.Bank{Name: b.Name, Description: b.Description, CreateTime: rec.created}
	ix.mem.write(func() { ix.mem.addBank(&bankState{ref: rec.ref, bank: out}) })
	return out, nil
}

// GetBank returns the bank with the given name and its current item count.
// Errors: mediamatch.ErrInvalid for a malformed name, mediamatch.ErrNotFound, mediamatch.ErrClosed. Safe for
// concurrent use.
func (ix *Index) GetBank(ctx context.Context, name string) (mediamatch.Bank, error) {
	if err := mediamatch.ValidateBankName("bank", name); err != nil {
		return mediamatch.Bank{}, err
	}
	if err := ix.enter(ctx); err != nil {
		return mediamatch.Bank{}, err
	}
	defer ix.exit()
	b, err := ix.bank(name)
	if err != nil {
		return mediamatch.Bank{}, err
	}
	return b.withCount(), nil
}

func (b *bankState) withCount() mediamatch.Bank {
	out := b.bank
	out.ItemCount = b.items.Load()
	return out
}

// ListBanks returns up to pageSize banks (0 means 100, more than 1000 means
// 1000) in name order, starting after the page that returned pageToken
// (empty: from the first), and the token of the next page, empty on the last
// page. Errors: mediamatch.ErrInvalid for a negative page size or a malformed token,
// mediamatch.ErrClosed. Safe for concurrent use.
func (ix *Index) ListBanks(ctx context.Context, pageSize int, pageToken string) ([]mediamatch.Bank, string, error) {
	return ix.ListBanksWithin(ctx, pageSize, pageToken, nil)
}

// ListBanksWithin is ListBanks for a caller limited to the banks in scope
// (empty: every bank): the banks are filtered before paging, so every page
// but the last is full, and the page token is sealed with a key of this
// Index (AES-GCM), so that it is opaque and cannot be forged. It holds only
// the last bank of its page, one the caller may see. Tokens do not survive
// a restart: a token from before one is mediamatch.ErrInvalid.
func (ix *Index) ListBanksWithin(ctx context.Context, pageSize int, pageToken string, scope []string) ([]mediamatch.Bank, string, error) {
	n, err := validatePageSize(pageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := ix.openPageToken(pageToken, keyBank, func(s string) error { return mediamatch.ValidateBankName("", s) })
	if err != nil {
		return nil, "", err
	}
	if err := ix.enter(ctx); err != nil {
		return nil, "", err
	}
	defer ix.exit()
	banks := ix.mem.state().banks
	names := make([]string, 0, len(banks))
	for name := range banks {
		if (pageToken == "" || name > after) && (len(scope) == 0 || slices.Contains(scope, name)) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	next := ""
	if len(names) > n {
		names = names[:n]
		next = ix.sealPageToken(keyBank, names[n-1])
	}
	out := make([]mediamatch.Bank, len(names))
	for i, name := range names {
		out[i] = banks[name].withCount()
	}
	return out, next, nil
}

// DeleteBank deletes the bank and all its items. The bank and its items
// disappear at once (from matches, GetItem and ListItems, and the name can
// be reused straight away); the stored items are then purged in batches in
// the background, resuming after a restart if need be. Errors: mediamatch.ErrInvalid
// for a malformed name, mediamatch.ErrNotFound, mediamatch.ErrClosed, or a storage error. Safe for
// concurrent use.
func (ix *Index) DeleteBank(ctx context.Context, name string) error {
	if err := mediamatch.ValidateBankName("bank", name); err != nil {
		return err
	}
	if err := ix.enter(ctx); err != nil {
		return err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, true); err != nil {
		return err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	b, err := ix.bank(name)
	if err != nil {
		return err
	}
	err = ix.st.update(func(tx *writeTx) error {
		if err := tx.del(bankKey(name)); err != nil {
			return err
		}
		return tx.set(tombstoneKey(b.ref), nil)
	})
	if err != nil {
		return storeErr("delete bank", name, err)
	}
	ix.mem.write(func() { ix.mem.dropBank(b) })
	select {
	case ix.purgeKick <- struct{}{}:
	default:
	}
	return nil
}

// bank returns the live bank with the given name or an mediamatch.ErrNotFound error.
func (ix *Index) bank(name string) (*bankState, error) {
	b := ix.mem.state().banks[name]
	if b == nil {
		return nil, mediamatch.Errorf(mediamatch.NotFound, "", "bank %q", name)
	}
	return b, nil
}

// AddItem stores a new item in it.Bank with it.ID, labels, disabled state
// and media, and returns it with CreateTime and UpdateTime set. Its signals
// match from the next Match on (unless it is disabled), except those below
// their type's minimum quality, which are stored (GetItem returns them) but
// never indexed. The item and its signals are written in one transaction.
// Errors: mediamatch.ErrInvalid (see the Validate functions; an item's signals must
// also be untransformed: a signal with a Transform is refused, not
// stripped), mediamatch.ErrNotFound if the bank does not exist,
// mediamatch.ErrAlreadyExists if the bank has an item with that id, mediamatch.ErrClosed, or a
// storage error. Safe for concurrent use.
func (ix *Index) AddItem(ctx context.Context, it mediamatch.Item) (mediamatch.Item, error) {
	if err := validateItem(it); err != nil {
		return mediamatch.Item{}, err
	}
	if err := ix.enter(ctx); err != nil {
		return mediamatch.Item{}, err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, false); err != nil {
		return mediamatch.Item{}, err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	b, err := ix.bank(it.Bank)
	if err != nil {
		return mediamatch.Item{}, err
	}
	now := ix.timestamp()
	a := newItemAdd(ix.nextRef, b.ref, it, now)
	ix.nextRef++
	err = ix.st.update(func(tx *writeTx) error {
		if ok, err := tx.has(itemIDKey(b.ref, it.ID)); err != nil || ok {
			if ok {
				err = mediamatch.Errorf(mediamatch.AlreadyExists, "", "item %q in bank %q", it.ID, it.Bank)
			}
			return err
		}
		return a.write(tx)
	})
	if err != nil {
		return mediamatch.Item{}, storeErr("add item", it.Bank+"/"+it.ID, err)
	}
	ix.mem.write(func() { ix.mem.addItem(a.ref, a.rec.meta(), a.sigs) })
	it.Labels = cloneLabels(it.Labels)
	it.CreateTime, it.UpdateTime = now, now
	return it, nil
}

func validateItem(it mediamatch.Item) error {
	if err := mediamatch.ValidateBankName("item.bank", it.Bank); err != nil {
		return err
	}
	return mediamatch.ValidateItem("item", it)
}

// itemAdd is one item ready to be written: its ref, record, media and
// signal keys. Bulk paths (imports) write many in one transaction.
type itemAdd struct {
	ref   uint64
	bank  uint64
	id    string
	rec   itemRecord
	media []byte
	sigs  []sigEntry
}

func newItemAdd(ref, bankRef uint64, it mediamatch.Item, now time.Time) *itemAdd {
	a := &itemAdd{
		ref:  ref,
		bank: bankRef,
		id:   it.ID,
		rec: itemRecord{
			bank:        bankRef,
			id:          it.ID,
			labels:      cloneLabels(it.Labels),
			disabled:    it.Disabled,
			kind:        it.Media.Kind,
			informative: informativeFrames(it.Media),
			frames:      frameInfos(it.Media),
			source:      cloneSource(it.Source),
			views:       itemViews(it.Media),
			created:     now,
			updated:     now,
		},
		media: encodeMedia(it.Media),
		sigs:  indexedSignals(it.Media),
	}
	a.rec.frameTypes = frameTypeMasks(len(it.Media.Keyframes), a.sigs)
	return a
}

// write sets every key of the item in tx.
func (a *itemAdd) write(tx *writeTx) error {
	if err := tx.set(itemIDKey(a.bank, a.id), refValue(a.ref)); err != nil {
		return err
	}
	if err := tx.set(metaKey(a.ref), encodeItem(a.rec)); err != nil {
		return err
	}
	if err := tx.set(mediaKey(a.ref), a.media); err != nil {
		return err
	}
	for _, e := range a.sigs {
		if err := tx.set(e.key(a.ref), e.value()); err != nil {
			return err
		}
	}
	return nil
}

// GetItem returns the item with the given id in the given bank, with its
// media. Errors: mediamatch.ErrInvalid for a malformed bank name or id, mediamatch.ErrNotFound if
// the bank or the item does not exist, mediamatch.ErrClosed, or a storage error. Safe
// for concurrent use.
func (ix *Index) GetItem(ctx context.Context, bank, id string) (mediamatch.Item, error) {
	if err := mediamatch.ValidateBankName("bank", bank); err != nil {
		return mediamatch.Item{}, err
	}
	if err := mediamatch.ValidateItemID("id", id); err != nil {
		return mediamatch.Item{}, err
	}
	if err := ix.enter(ctx); err != nil {
		return mediamatch.Item{}, err
	}
	defer ix.exit()
	b, err := ix.bank(bank)
	if err != nil {
		return mediamatch.Item{}, err
	}
	var it mediamatch.Item
	err = ix.st.view(func(tx *readTx) error {
		ref, err := lookupItem(tx, b, id)
		if err != nil {
			return err
		}
		it, err = readItem(tx, bank, ref)
		return err
	})
	if err != nil {
		return mediamatch.Item{}, storeErr("get item", bank+"/"+id, err)
	}
	return it, nil
}

// lookupItem returns the ref of an item or an mediamatch.ErrNotFound error.
func lookupItem(tx *readTx, b *bankState, id string) (uint64, error) {
	v, err := tx.get(itemIDKey(b.ref, id))
	if errors.Is(err, errNoKey) {
		return 0, mediamatch.Errorf(mediamatch.NotFound, "", "item %q in bank %q", id, b.bank.Name)
	}
	if err != nil {
		return 0, err
	}
	return parseRefValue(v)
}

// readItem reads an item's record and media.
func readItem(tx *readTx, bank string, ref uint64) (mediamatch.Item, error) {
	rec, err := readRecord(tx, ref)
	if err != nil {
		return mediamatch.Item{}, err
	}
	m, err := readMedia(tx, ref)
	if err != nil {
		return mediamatch.Item{}, err
	}
	return mediamatch.Item{
		Bank:       bank,
		ID:         rec.id,
		Labels:     rec.labels,
		Disabled:   rec.disabled,
		Media:      m,
		CreateTime: rec.created,
		UpdateTime: rec.updated,
		Source:     cloneSource(rec.source),
	}, nil
}

func readRecord(tx *readTx, ref uint64) (itemRecord, error) {
	v, err := tx.get(metaKey(ref))
	if err != nil {
		return itemRecord{}, fmt.Errorf("index: item record %d: %v", ref, err)
	}
	return decodeItem(v)
}

func readMedia(tx *readTx, ref uint64) (mediamatch.Media, error) {
	v, err := tx.get(mediaKey(ref))
	if err != nil {
		return mediamatch.Media{}, fmt.Errorf("index: media record %d: %v", ref, err)
	}
	return decodeMedia(v)
}

// ListItems returns up to pageSize items of a bank (0 means 100, more than
// 1000 means 1000), and fewer when they are large (Options.MaxPageBytes),
// in id order, with their media, starting after the page
// that returned pageToken (empty: from the first), and the token of the next
// page, empty on the last page. Errors: mediamatch.ErrInvalid for a malformed bank
// name, a negative page size or a malformed token, mediamatch.ErrNotFound if the bank
// does not exist, mediamatch.ErrClosed, or a storage error. Safe for concurrent use.
func (ix *Index) ListItems(ctx context.Context, bank string, pageSize int, pageToken string) ([]mediamatch.Item, string, error) {
	if err := mediamatch.ValidateBankName("bank", bank); err != nil {
		return nil, "", err
	}
	n, err := validatePageSize(pageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := parsePageToken(pageToken, keyItemID, func(s string) error { return mediamatch.ValidateItemID("", s) })
	if err != nil {
		return nil, "", err
	}
	if err := ix.enter(ctx); err != nil {
		return nil, "", err
	}
	defer ix.exit()
	b, err := ix.bank(bank)
	if err != nil {
		return nil, "", err
	}
	prefix := itemIDPrefix(b.ref)
	prefix[0] = keyItemID
	var start []byte
	if pageToken != "" {
		start = append(itemIDKey(b.ref, after), 0) // the first id after
	}
	var items []mediamatch.Item
	next := ""
	err = ix.st.view(func(tx *readTx) error {
		var refs []uint64
		more := false
		err := tx.scan(prefix, start, false, func(key, val []byte) (bool, error) {
			if len(refs) == n {
				more = true
				return false, nil
			}
			ref, err := parseRefValue(val)
			refs = append(refs, ref)
			return true, err
		})
		if err != nil {
			return err
		}
		items = make([]mediamatch.Item, 0, len(refs))
		size := 0
		for i, ref := range refs {
			it, err := readItem(tx, bank, ref)
			if err != nil {
				return err
			}
			if size += itemBytes(it); size > ix.pageBytes && i > 0 {
				more = true
				break
			}
			items = append(items, it)
		}
		if more {
			next = pageTokenFor(keyItemID, items[len(items)-1].ID)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, "", storeErr("list items", bank, err)
	}
	return items, next, nil
}

// itemBytes estimates the size of an item in a response, from above: its
// labels, source and signals with some bytes of framing each.
func itemBytes(it mediamatch.Item) int {
	n := 64 + len(it.ID) + len(it.Bank) + len(it.Media.Format)
	for k, v := range it.Labels {
		n += len(k) + len(v) + 8
	}
	if s := it.Source; s != nil {
		n += len(s.Format) + len(s.Partner) + len(s.UpstreamID) + 32
		for _, t := range s.Tags {
			n += len(t) + 4
		}
	}
	for _, s := range it.Media.FileSignals {
		n += len(s.Hash) + 16
	}
	for _, k := range it.Media.Keyframes {
		n += 24
		for _, s := range k.Signals {
			n += len(s.Hash) + 16
		}
		n += len(k.Features) * (mediamatch.FeatureBytes + 8) // 44 bytes a feature in protobuf
	}
	return n
}

// UpdateItem changes an item's labels (when u.SetLabels; they replace all
// labels) and disabled state (when u.SetDisabled) and returns the item as
// stored. A disabled item stops matching, and a re-enabled one matches
// again, from the next Match on. With neither flag set it returns the item
// unchanged. Errors: mediamatch.ErrInvalid for a malformed bank name, id or labels,
// mediamatch.ErrNotFound if the bank or item does not exist, mediamatch.ErrClosed, or a storage
// error. Safe for concurrent use.
func (ix *Index) UpdateItem(ctx context.Context, bank, id string, u mediamatch.ItemUpdate) (mediamatch.Item, error) {
	if err := mediamatch.ValidateBankName("bank", bank); err != nil {
		return mediamatch.Item{}, err
	}
	if err := mediamatch.ValidateItemID("id", id); err != nil {
		return mediamatch.Item{}, err
	}
	if u.SetLabels {
		if err := mediamatch.ValidateLabels("update.labels", u.Labels); err != nil {
			return mediamatch.Item{}, err
		}
	}
	if !u.SetLabels && !u.SetDisabled {
		return ix.GetItem(ctx, bank, id)
	}
	if err := ix.enter(ctx); err != nil {
		return mediamatch.Item{}, err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, false); err != nil {
		return mediamatch.Item{}, err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	b, err := ix.bank(bank)
	if err != nil {
		return mediamatch.Item{}, err
	}
	var (
		ref  uint64
		rec  itemRecord
		m    mediamatch.Media
		sigs []sigEntry
	)
	now := ix.timestamp()
	err = ix.st.update(func(tx *writeTx) error {
		var err error
		if ref, err = lookupItem(&tx.readTx, b, id); err != nil {
			return err
		}
		if rec, err = readRecord(&tx.readTx, ref); err != nil {
			return err
		}
		if m, err = readMedia(&tx.readTx, ref); err != nil {
			return err
		}
		if u.SetLabels {
			rec.labels = cloneLabels(u.Labels)
		}
		if u.SetDisabled {
			rec.disabled = u.Disabled
		}
		rec.updated = now
		sigs = indexedSignals(m)
		rec.frameTypes = frameTypeMasks(len(m.Keyframes), sigs)
		return tx.set(metaKey(ref), encodeItem(rec))
	})
	if err != nil {
		return mediamatch.Item{}, storeErr("update item", bank+"/"+id, err)
	}
	ix.mem.write(func() { ix.mem.updateItem(ref, rec.meta(), sigs) })
	return mediamatch.Item{
		Bank:       bank,
		ID:         id,
		Labels:     cloneLabels(rec.labels),
		Disabled:   rec.disabled,
		Media:      m,
		CreateTime: rec.created,
		UpdateTime: rec.updated,
	}, nil
}

// DeleteItem deletes an item and its signals in one transaction; it stops
// matching from the next Match on. Errors: mediamatch.ErrInvalid for a malformed bank
// name or id, mediamatch.ErrNotFound if the bank or item does not exist, mediamatch.ErrClosed, or
// a storage error. Safe for concurrent use.
func (ix *Index) DeleteItem(ctx context.Context, bank, id string) error {
	if err := mediamatch.ValidateBankName("bank", bank); err != nil {
		return err
	}
	if err := mediamatch.ValidateItemID("id", id); err != nil {
		return err
	}
	if err := ix.enter(ctx); err != nil {
		return err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, true); err != nil {
		return err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	b, err := ix.bank(bank)
	if err != nil {
		return err
	}
	var (
		ref  uint64
		sigs []sigEntry
	)
	err = ix.st.update(func(tx *writeTx) error {
		var err error
		if ref, err = lookupItem(&tx.readTx, b, id); err != nil {
			return err
		}
		sigs, err = deleteItemKeys(tx, itemIDKey(b.ref, id), ref)
		return err
	})
	if err != nil {
		return storeErr("delete item", bank+"/"+id, err)
	}
	ix.mem.write(func() { ix.mem.removeItem(ref, sigs) })
	return nil
}

// deleteItemKeys deletes every key of an item in tx and returns the signals
// it had. idKey is the item's bank/id key.
func deleteItemKeys(tx *writeTx, idKey []byte, ref uint64) ([]sigEntry, error) {
	m, err := readMedia(&tx.readTx, ref)
	if err != nil {
		return nil, err
	}
	sigs := indexedSignals(m)
	for _, k := range [][]byte{idKey, metaKey(ref), mediaKey(ref)} {
		if err := tx.del(k); err != nil {
			return nil, err
		}
	}
	for _, e := range sigs {
		if err := tx.del(e.key(ref)); err != nil {
			return nil, err
		}
	}
	return sigs, nil
}

// storeErr wraps an error from a store transaction. Errors that already
// carry a domain code (mediamatch.Error) or are the context's pass
// through unchanged.
func storeErr(op, what string, err error) error {
	if mediamatch.CodeOf(err) != "" || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("index: %s %s: %w", op, what, err)
}

func cloneSource(s *mediamatch.Source) *mediamatch.Source {
	if s == nil {
		return nil
	}
	c := *s
	c.Tags = slices.Clone(s.Tags)
	return &c
}

func cloneLabels(l map[string]string) map[string]string {
	if len(l) == 0 {
		return nil
	}
	return maps.Clone(l)
}

// pageTokenFor returns the opaque token of the page after the entry named
// last: URL-safe base64 of a kind byte and the name.
func pageTokenFor(kind byte, last string) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{kind}, last...))
}

// sealPageToken returns an opaque page token for the page after the entry
// named last: URL-safe base64 of a nonce and the AES-GCM sealing of a kind
// byte and the name, under the Index's page key.
func (ix *Index) sealPageToken(kind byte, last string) string {
	nonce := make([]byte, ix.pageKey.NonceSize(), ix.pageKey.NonceSize()+1+len(last)+ix.pageKey.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(ix.pageKey.Seal(nonce, nonce, append([]byte{kind}, last...), nil))
}

// openPageToken returns the name in a token made by sealPageToken for the
// same kind, "" for an empty token, or an mediamatch.ErrInvalid error.
func (ix *Index) openPageToken(tok string, kind byte, valid func(string) error) (string, error) {
	if tok == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	ns := ix.pageKey.NonceSize()
	if err == nil && len(raw) > ns {
		raw, err = ix.pageKey.Open(nil, raw[:ns], raw[ns:], nil)
	} else if err == nil {
		err = errCorrupt
	}
	if err != nil || len(raw) < 2 || raw[0] != kind || valid(string(raw[1:])) != nil {
		return "", invalidf("page_token", "%q is malformed or from before a server restart, want one returned by the previous call", clip(tok))
	}
	return string(raw[1:]), nil
}

// parsePageToken returns the name in a token made by pageTokenFor for the
// same kind, "" for an empty token, or an mediamatch.ErrInvalid error.
func parsePageToken(tok string, kind byte, valid func(string) error) (string, error) {
	if tok == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 2 || raw[0] != kind || valid(string(raw[1:])) != nil {
		return "", invalidf("page_token", "%q is malformed, want one returned by the previous call", tok)
	}
	return string(raw[1:]), nil
}
