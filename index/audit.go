package index

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// # Audit log
//
// This file is the audit log: the curator and admin actions that the
// server's guard records (AppendAudit) and AdminService reads (ListAudit,
// ListAuditWhere), kept durably in the index's Badger database under
// their own key prefix (keyAudit, "a" + time + sequence) and pruned in the
// background by age and count (Options.AuditRetention and
// AuditMaxEntries). Tokens are the other half of access control
// (auth.go).

// auditState is the audit log's state.
type auditState struct {
	mu    sync.Mutex    // orders appends
	seq   uint64        // guarded by mu
	last  int64         // latest entry's time; guarded by mu
	keep  time.Duration // Options.AuditRetention; negative: forever
	max   int64         // Options.AuditMaxEntries; negative: no bound
	count atomic.Int64  // entries in the log
	kick  chan struct{} // wakes auditLoop to prune
	done  chan struct{} // closed when auditLoop returns
}

// Limits of an audit entry's fields; longer values are cut.
const maxAuditField = 512

// AppendAudit appends e with the current time, durably. Errors:
// mediamatch.ErrClosed, or a storage error. Safe for concurrent use.
func (ix *Index) AppendAudit(ctx context.Context, e mediamatch.AuditEntry) error {
	if err := ix.enter(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, true); err != nil {
		return err
	}
	ix.audit.mu.Lock()
	defer ix.audit.mu.Unlock()
	e.Time = ix.timestamp()
	// Keys sort by time and then a sequence number, so entries made in
	// the same nanosecond (or after a clock step back) keep their order.
	key := binary.BigEndian.AppendUint64([]byte{keyAudit}, uint64(max(e.Time.UnixNano(), ix.audit.last)))
	ix.audit.seq++
	key = binary.BigEndian.AppendUint64(key, ix.audit.seq)
	err := ix.st.update(func(tx *writeTx) error { return tx.set(key, encodeAudit(e)) })
	if err != nil {
		return storeErr("append audit", e.Action, err)
	}
	ix.audit.last = max(e.Time.UnixNano(), ix.audit.last)
	// Every 256 entries the background loop prunes: the log may go over
	// its bound by that many for a while.
	if n := ix.audit.count.Add(1); n%256 == 0 {
		select {
		case ix.audit.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// auditPruneBatch bounds the entries one pruning transaction deletes.
const auditPruneBatch = 1000

// countAudit counts the audit entries, at Open (a key-only scan).
func (ix *Index) countAudit() error {
	var n int64
	err := ix.st.view(func(tx *readTx) error {
		return tx.scan([]byte{keyAudit}, nil, true, func([]byte, []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	if err != nil {
		return fmt.Errorf("index: count audit entries: %w", err)
	}
	ix.audit.count.Store(n)
	return nil
}

// auditLoop prunes the audit log (Options.AuditRetention and
// AuditMaxEntries) at start, every hour and when AppendAudit kicks it,
// until ctx is done.
func (ix *Index) auditLoop(ctx context.Context) {
	defer close(ix.audit.done)
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if err := ix.pruneAudit(ctx); err != nil && ctx.Err() == nil {
			ix.log.Warn("index: pruning the audit log failed; retrying later", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-ix.audit.kick:
		}
	}
}

// pruneAudit deletes the audit entries older than the retention, and the
// oldest beyond the bound, in transactions of at most auditPruneBatch.
func (ix *Index) pruneAudit(ctx context.Context) error {
	if ix.audit.keep < 0 && ix.audit.max < 0 {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var cutoff int64 = -1 // entries before this many Unix nanoseconds go
		if ix.audit.keep >= 0 {
			cutoff = ix.now().Add(-ix.audit.keep).UnixNano()
		}
		over := int64(0) // the oldest this many go
		if ix.audit.max >= 0 {
			over = max(ix.audit.count.Load()-ix.audit.max, 0)
		}
		if err := ix.room(writeRoom, true); err != nil {
			return err
		}
		deleted := 0
		err := ix.st.update(func(tx *writeTx) error {
			deleted = 0
			var keys [][]byte
			err := tx.scan([]byte{keyAudit}, nil, true, func(key, _ []byte) (bool, error) {
				if len(keys) == auditPruneBatch || len(key) < 9 {
					return false, nil
				}
				old := cutoff >= 0 && int64(binary.BigEndian.Uint64(key[1:9])) < cutoff
				if !old && int64(len(keys)) >= over {
					return false, nil
				}
				keys = append(keys, append([]byte(nil), key...))
				return true, nil
			})
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := tx.del(k); err != nil {
					return err
				}
			}
			deleted = len(keys)
			return nil
		})
		if err != nil {
			return storeErr("prune audit", "", err)
		}
		ix.audit.count.Add(-int64(deleted))
		if deleted < auditPruneBatch {
			return nil
		}
	}
}

// ListAudit returns up to pageSize audit entries (0 means 100, more than
// 1000 means 1000), oldest first, starting after the page that returned
// pageToken, and the token of the next page (empty on the last). Errors:
// mediamatch.ErrInvalid for a bad page size or token, mediamatch.ErrClosed, or a storage error.
// Safe for concurrent use.
func (ix *Index) ListAudit(ctx context.Context, pageSize int, pageToken string) ([]mediamatch.AuditEntry, string, error) {
	return ix.ListAuditWhere(ctx, pageSize, pageToken, nil)
}

// ListAuditWhere is ListAudit of only the entries for which keep returns
// true (nil keeps all): pages are filled with kept entries, and the page
// token names the last kept one, so that it tells nothing of the others.
// keep must be cheap: a page may scan the whole log.
func (ix *Index) ListAuditWhere(ctx context.Context, pageSize int, pageToken string, keep func(mediamatch.AuditEntry) bool) ([]mediamatch.AuditEntry, string, error) {
	n, err := validatePageSize(pageSize)
	if err != nil {
		return nil, "", err
	}
	var start []byte
	if pageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil || len(raw) != 17 || raw[0] != keyAudit {
			return nil, "", invalidf("page_token", "%q is malformed, want one returned by the previous call", clip(pageToken))
		}
		start = append(raw, 0) // the first key after
	}
	if err := ix.enter(ctx); err != nil {
		return nil, "", err
	}
	defer ix.exit()
	var (
		out  []mediamatch.AuditEntry
		last []byte
		more bool
	)
	err = ix.st.view(func(tx *readTx) error {
		scanned := 0
		return tx.scan([]byte{keyAudit}, start, false, func(key, val []byte) (bool, error) {
			if scanned++; scanned%4096 == 0 && ctx.Err() != nil {
				return false, ctx.Err()
			}
			e, err := decodeAudit(val)
			if err != nil {
				return false, err
			}
			if keep != nil && !keep(e) {
				return true, nil
			}
			if len(out) == n {
				more = true
				return false, nil
			}
			out = append(out, e)
			last = append(last[:0], key...)
			return true, nil
		})
	})
	if err != nil {
		return nil, "", storeErr("list audit", "", err)
	}
	next := ""
	if more {
		next = base64.RawURLEncoding.EncodeToString(last)
	}
	return out, next, nil
}

func encodeAudit(e mediamatch.AuditEntry) []byte {
	var enc encoder
	enc.byte(recordV1)
	enc.time(e.Time)
	for _, s := range []string{e.Actor, string(e.Role), e.Action, e.Target, e.Detail} {
		if len(s) > maxAuditField {
			s = s[:maxAuditField]
		}
		enc.str(s)
	}
	return enc.b
}

func decodeAudit(v []byte) (mediamatch.AuditEntry, error) {
	d := decoder{b: v}
	var e mediamatch.AuditEntry
	if ver := d.byte(); d.err == nil && ver != recordV1 {
		return e, fmt.Errorf("index: audit record version %d, want %d", ver, recordV1)
	}
	e.Time = d.time()
	e.Actor, e.Role, e.Action, e.Target, e.Detail = d.str(), mediamatch.Role(d.str()), d.str(), d.str(), d.str()
	return e, d.done("audit record")
}
