package index

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// # Exchanges
//
// This file keeps the partner exchanges that the server fetches on a
// schedule: each one's configuration and status (keyExchange, "e" + name,
// a JSON record) and its checkpoint (keyCheckpoint, "k" + name, the
// fetcher's opaque string, kept apart because a url exchange's
// checkpoint lists every id of the last list and is large).
//
// A page fetched from an exchange is an import (import.go) that carries
// the page's checkpoint (Import.SetCheckpoint): Commit writes the
// checkpoint under keyImportCheckpoint ("E" + import id) in the same
// transaction as the import's marker, and the apply transaction that
// marks the import applied moves it to keyCheckpoint. Commit and the
// roll-forward of recoverImports share that apply, so the bank and the
// checkpoint change together: a crash before the commit point leaves both
// as they were, a crash after it finishes both at the next Open. The
// fetcher then resumes from a checkpoint that covers exactly what the bank
// holds, and nothing is lost or applied twice.
//
// The secret of an exchange is never stored here: Exchange.Credentials
// names a file or an environment variable that holds it.

// Exchange is a partner exchange as configured, with its status.
type Exchange struct {
	Name string // as a bank name: 1..64 of [a-z0-9_.-]
	Bank string // the bank its items go to
	Kind string // the fetcher's kind ("url", "threatexchange", ...); the index does not check it
	// BaseURL is the endpoint; empty means the kind's public one.
	BaseURL string
	// Interval is the time between scheduled fetches; 0 means the
	// server's default.
	Interval time.Duration
	// Settings are the kind's settings ("privacy_group", "ideology",
	// "format", ...), as the server reads them.
	Settings    map[string]string
	Credentials CredentialsRef
	// Paused exchanges are not fetched on the schedule (FetchExchange
	// still fetches them).
	Paused  bool
	Created time.Time
	Status  ExchangeStatus
	// Checkpoint is where the next fetch resumes; set by GetExchange
	// only (ListExchanges leaves it empty, it may be large).
	Checkpoint string `json:"-"`
}

// CredentialsRef says where an exchange's secret is: a file (written 0600
// by the server under its data dir) or an environment variable, or
// neither for an exchange that needs none. It never holds the secret.
type CredentialsRef struct {
	File string `json:",omitempty"`
	Env  string `json:",omitempty"`
}

// ExchangeStatus is what the fetches of an exchange did.
type ExchangeStatus struct {
	LastAttempt time.Time // start of the last run, zero if none
	LastSuccess time.Time // end of the last run that caught up, zero if none
	LastError   string    // of the last run; empty if it succeeded
	// AuthFailed says the exchange refused the credentials: it is not
	// fetched on the schedule until it is resumed (ResumeExchange).
	AuthFailed bool
	// Total counts what every page applied since the exchange was
	// created. A page applied again after a crash counts only what its
	// apply changed after the restart.
	Total mediamatch.ImportStats
	// LastRun counts what the last run applied, and Pages its pages.
	LastRun      mediamatch.ImportStats
	LastRunPages int
	Rejected     int64 // records of the last run the fetcher refused
}

const (
	keyExchange         = 'e' // "e" name -> exchange record, JSON (exchange.go)
	keyCheckpoint       = 'k' // "k" name -> the exchange's checkpoint
	keyImportCheckpoint = 'E' // "E" import id -> exchange name and checkpoint of a committed import
)

func exchangeKey(name string) []byte   { return append([]byte{keyExchange}, name...) }
func checkpointKey(name string) []byte { return append([]byte{keyCheckpoint}, name...) }
func importCheckpointKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{keyImportCheckpoint}, id)
}

// validateExchange checks what CreateExchange stores.
func validateExchange(e Exchange) error {
	if err := mediamatch.ValidateBankName("exchange.name", e.Name); err != nil {
		return err
	}
	if err := mediamatch.ValidateBankName("exchange.bank", e.Bank); err != nil {
		return err
	}
	switch {
	case e.Kind == "" || len(e.Kind) > 32:
		return invalidf("exchange.kind", "%q, want a kind", e.Kind)
	case e.Interval < 0:
		return invalidf("exchange.interval", "%v, want 0 (the default) or more", e.Interval)
	case e.Credentials.File != "" && e.Credentials.Env != "":
		return invalidf("exchange.credentials", "both a file and an environment variable, want at most one")
	case len(e.BaseURL) > 2048:
		return invalidf("exchange.base_url", "%d bytes, want at most 2048", len(e.BaseURL))
	case len(e.Settings) > 32:
		return invalidf("exchange.settings", "%d settings, want at most 32", len(e.Settings))
	}
	for k, v := range e.Settings {
		if len(k) > 64 || len(v) > 1024 {
			return invalidf("exchange.settings", "%q: key over 64 or value over 1024 bytes", clipName(k))
		}
	}
	return nil
}

func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// CreateExchange stores a new exchange with e's configuration (its
// Status, Checkpoint and Created are set here) and returns it. Errors:
// mediamatch.ErrInvalid for a bad name, bank name, interval or both
// credential sources, mediamatch.ErrNotFound if the bank does not exist,
// mediamatch.ErrAlreadyExists if the name is taken, mediamatch.ErrClosed,
// or a storage error. Safe for concurrent use.
func (ix *Index) CreateExchange(ctx context.Context, e Exchange) (Exchange, error) {
	if err := validateExchange(e); err != nil {
		return Exchange{}, err
	}
	if err := ix.enter(ctx); err != nil {
		return Exchange{}, err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, false); err != nil {
		return Exchange{}, err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if _, err := ix.bank(e.Bank); err != nil {
		return Exchange{}, err
	}
	e.Created, e.Status, e.Checkpoint = ix.timestamp(), ExchangeStatus{}, ""
	val, err := json.Marshal(e)
	if err != nil {
		return Exchange{}, err
	}
	err = ix.st.update(func(tx *writeTx) error {
		switch ok, err := tx.has(exchangeKey(e.Name)); {
		case err != nil:
			return err
		case ok:
			return mediamatch.Errorf(mediamatch.AlreadyExists, "exchange.name", "exchange %q", e.Name)
		}
		// A checkpoint left by an exchange of the same name deleted
		// while a page of it was applied must not be where this one
		// starts.
		if err := tx.del(checkpointKey(e.Name)); err != nil {
			return err
		}
		return tx.set(exchangeKey(e.Name), val)
	})
	if errors.Is(err, mediamatch.ErrAlreadyExists) {
		return Exchange{}, err
	}
	if err != nil {
		return Exchange{}, storeErr("create exchange", e.Name, err)
	}
	return e, nil
}

// readExchange reads the exchange name in tx, or an mediamatch.ErrNotFound
// error.
func readExchange(tx *readTx, name string) (Exchange, error) {
	v, err := tx.get(exchangeKey(name))
	if errors.Is(err, errNoKey) {
		return Exchange{}, mediamatch.Errorf(mediamatch.NotFound, "", "exchange %q", name)
	}
	if err != nil {
		return Exchange{}, err
	}
	var e Exchange
	if err := json.Unmarshal(v, &e); err != nil {
		return Exchange{}, fmt.Errorf("index: exchange %q: %w", name, errCorrupt)
	}
	return e, nil
}

// GetExchange returns the exchange name with its status and checkpoint.
// Errors: mediamatch.ErrInvalid for a malformed name, mediamatch.ErrNotFound,
// mediamatch.ErrClosed, or a storage error. Safe for concurrent use.
func (ix *Index) GetExchange(ctx context.Context, name string) (Exchange, error) {
	if err := mediamatch.ValidateBankName("exchange", name); err != nil {
		return Exchange{}, err
	}
	if err := ix.enter(ctx); err != nil {
		return Exchange{}, err
	}
	defer ix.exit()
	var e Exchange
	err := ix.st.view(func(tx *readTx) error {
		var err error
		if e, err = readExchange(tx, name); err != nil {
			return err
		}
		cp, err := tx.get(checkpointKey(name))
		if errors.Is(err, errNoKey) {
			return nil
		}
		e.Checkpoint = string(cp)
		return err
	})
	if errors.Is(err, mediamatch.ErrNotFound) {
		return Exchange{}, err
	}
	if err != nil {
		return Exchange{}, storeErr("get exchange", name, err)
	}
	return e, nil
}

// ListExchanges returns every exchange, by name, without checkpoints.
// Errors: mediamatch.ErrClosed or a storage error. Safe for concurrent
// use.
func (ix *Index) ListExchanges(ctx context.Context) ([]Exchange, error) {
	if err := ix.enter(ctx); err != nil {
		return nil, err
	}
	defer ix.exit()
	var out []Exchange
	err := ix.st.view(func(tx *readTx) error {
		return tx.scan([]byte{keyExchange}, nil, false, func(key, val []byte) (bool, error) {
			var e Exchange
			if err := json.Unmarshal(val, &e); err != nil {
				return false, fmt.Errorf("index: exchange %q: %w", key[1:], errCorrupt)
			}
			out = append(out, e)
			return true, nil
		})
	})
	if err != nil {
		return nil, storeErr("list exchanges", "", err)
	}
	slices.SortFunc(out, func(a, b Exchange) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// UpdateExchange changes the exchange name with fn, which may change
// anything but Name, Created and Checkpoint, and returns it as stored.
// fn runs under the index's writer lock: keep it short. Errors: those of
// fn (nothing is written), mediamatch.ErrInvalid if the result is
// invalid, mediamatch.ErrNotFound, mediamatch.ErrClosed, or a storage
// error. Safe for concurrent use.
func (ix *Index) UpdateExchange(ctx context.Context, name string, fn func(*Exchange) error) (Exchange, error) {
	if err := mediamatch.ValidateBankName("exchange", name); err != nil {
		return Exchange{}, err
	}
	if err := ix.enter(ctx); err != nil {
		return Exchange{}, err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, true); err != nil {
		return Exchange{}, err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	var out Exchange
	var fnErr error
	err := ix.st.update(func(tx *writeTx) error {
		e, err := readExchange(&tx.readTx, name)
		if err != nil {
			return err
		}
		created := e.Created
		if fnErr = fn(&e); fnErr != nil {
			return fnErr
		}
		e.Name, e.Created, e.Checkpoint = name, created, ""
		if err := validateExchange(e); err != nil {
			fnErr = err
			return err
		}
		val, err := json.Marshal(e)
		if err != nil {
			return err
		}
		out = e
		return tx.set(exchangeKey(name), val)
	})
	switch {
	case fnErr != nil:
		return Exchange{}, fnErr
	case errors.Is(err, mediamatch.ErrNotFound):
		return Exchange{}, err
	case err != nil:
		return Exchange{}, storeErr("update exchange", name, err)
	}
	return out, nil
}

// DeleteExchange deletes the exchange name and its checkpoint; its bank
// and items stay. A page of it being applied meanwhile is applied, and
// its checkpoint dropped. Errors: mediamatch.ErrInvalid,
// mediamatch.ErrNotFound, mediamatch.ErrClosed, or a storage error. Safe
// for concurrent use.
func (ix *Index) DeleteExchange(ctx context.Context, name string) error {
	if err := mediamatch.ValidateBankName("exchange", name); err != nil {
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
	err := ix.st.update(func(tx *writeTx) error {
		if _, err := readExchange(&tx.readTx, name); err != nil {
			return err
		}
		if err := tx.del(checkpointKey(name)); err != nil {
			return err
		}
		return tx.del(exchangeKey(name))
	})
	if errors.Is(err, mediamatch.ErrNotFound) {
		return err
	}
	if err != nil {
		return storeErr("delete exchange", name, err)
	}
	return nil
}

// SetCheckpoint makes the import a page of the exchange name that ends at
// checkpoint cp: the commit that applies the import also stores cp as the
// exchange's checkpoint and adds what the import did to its
// Status.Total, in the same write (see the top of this file). An import
// without staged records still moves the checkpoint. If the exchange is
// deleted before the import is applied, cp is dropped.
func (im *Import) SetCheckpoint(name, cp string) {
	im.exchange, im.checkpoint = name, cp
}

// encodeImportCheckpoint is the value of keyImportCheckpoint: the
// exchange name's length, the name, the checkpoint.
func encodeImportCheckpoint(name, cp string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(name)))
	b = append(b, name...)
	return append(b, cp...)
}

// applyCheckpoint runs in the transaction that marks import id applied,
// with st what the import did: it moves the import's checkpoint, if it
// carries one, to its exchange and counts st in the exchange's totals.
func applyCheckpoint(tx *writeTx, id uint64, st mediamatch.ImportStats) error {
	v, err := tx.get(importCheckpointKey(id))
	if errors.Is(err, errNoKey) {
		return nil
	}
	if err != nil {
		return err
	}
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return fmt.Errorf("index: import %d checkpoint: %w", id, errCorrupt)
	}
	name, cp := string(v[k:k+int(n)]), v[k+int(n):]
	if err := tx.del(importCheckpointKey(id)); err != nil {
		return err
	}
	e, err := readExchange(&tx.readTx, name)
	if errors.Is(err, mediamatch.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	e.Status.Total = addStats(e.Status.Total, st)
	val, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := tx.set(exchangeKey(name), val); err != nil {
		return err
	}
	return tx.set(checkpointKey(name), cp)
}

// addStats returns a + b.
func addStats(a, b mediamatch.ImportStats) mediamatch.ImportStats {
	return mediamatch.ImportStats{Added: a.Added + b.Added, Updated: a.Updated + b.Updated,
		Deleted: a.Deleted + b.Deleted, Unchanged: a.Unchanged + b.Unchanged}
}
