package index

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// # Tokens
//
// This file is the token store: the bearer tokens that the server's guard
// authenticates calls with (CreateToken, Authenticate, ListTokens,
// RevokeToken and their ...Within forms for an admin limited to banks).
// Tokens live in the index's Badger database under their own key prefix
// (keyToken, "t" + id) and are written in the index's write transactions,
// under its writer lock, so that an import's commit checks its token
// (liveToken) atomically with applying the list; every token is also held
// in memory by its secret's hash (tokenState), so that Authenticate reads
// no storage. The secret itself is never stored. The audit log is the
// other half of access control (audit.go).

// tokenState is the token store's in-memory state.
type tokenState struct {
	bySecret atomic.Pointer[map[[32]byte]tokenRecord] // by secret hash; copied on write
	watchMu  sync.Mutex                               // orders changes of watched
	watched  atomic.Pointer[map[string]func()]        // token id -> called at its first use; copied on write
}

// tokenPrefix starts every secret, so that leaked secrets are easy to
// find (secret scanners) and easy to tell apart from other credentials.
const tokenPrefix = "mmt_"

func hashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// CreateToken creates a token with t's Name, Role, Banks and ExpireTime
// and returns it with its secret, which is not stored and cannot be read
// again. Errors: mediamatch.ErrInvalid for a bad name, role, bank name or an expiry in
// the past, mediamatch.ErrClosed, or a storage error. Safe for concurrent use.
func (ix *Index) CreateToken(ctx context.Context, t mediamatch.Token) (mediamatch.Token, string, error) {
	if err := mediamatch.ValidateTokenName("token.name", t.Name); err != nil {
		return mediamatch.Token{}, "", err
	}
	if !t.Role.Valid() {
		return mediamatch.Token{}, "", invalidf("token.role", "%q, want one of %v", t.Role, mediamatch.Roles())
	}
	for i, b := range t.Banks {
		if err := mediamatch.ValidateBankName(fmt.Sprintf("token.banks[%d]", i), b); err != nil {
			return mediamatch.Token{}, "", err
		}
	}
	if err := ix.enter(ctx); err != nil {
		return mediamatch.Token{}, "", err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, false); err != nil {
		return mediamatch.Token{}, "", err
	}
	now := ix.timestamp()
	if !t.ExpireTime.IsZero() && !t.ExpireTime.After(now) {
		return mediamatch.Token{}, "", invalidf("token.expire_time", "%v, want a time in the future", t.ExpireTime)
	}
	var idb [8]byte
	var sec [32]byte
	rand.Read(idb[:])
	rand.Read(sec[:])
	out := mediamatch.Token{
		ID:         "tok_" + hex.EncodeToString(idb[:]),
		Name:       t.Name,
		Role:       t.Role,
		Banks:      slices.Clone(t.Banks),
		CreateTime: now,
		ExpireTime: t.ExpireTime.UTC().Round(0),
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(sec[:])
	rec := tokenRecord{Token: out, hash: hashSecret(secret)}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if err := ix.st.update(func(tx *writeTx) error { return tx.set(tokenKey(out.ID), encodeToken(rec)) }); err != nil {
		return mediamatch.Token{}, "", storeErr("create token", out.ID, err)
	}
	ix.putToken(rec)
	return out, secret, nil
}

// Authenticate returns the live token whose secret this is. Errors:
// mediamatch.ErrUnauthenticated if there is none, or it expired or was revoked. It
// reads only memory. Safe for concurrent use.
func (ix *Index) Authenticate(secret string) (mediamatch.Token, error) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return mediamatch.Token{}, mediamatch.Errorf(mediamatch.Unauthenticated, "", "not a mediamatch token")
	}
	// A map lookup by the secret's hash: timing can tell at most whether
	// some secret's hash is near, which reveals nothing of a secret.
	rec, ok := (*ix.tok.bySecret.Load())[hashSecret(secret)]
	switch {
	case !ok:
		return mediamatch.Token{}, mediamatch.Errorf(mediamatch.Unauthenticated, "", "unknown token")
	case !rec.RevokeTime.IsZero():
		return mediamatch.Token{}, mediamatch.Errorf(mediamatch.Unauthenticated, "", "token %s was revoked", rec.ID)
	case !rec.ExpireTime.IsZero() && !ix.now().Before(rec.ExpireTime):
		return mediamatch.Token{}, mediamatch.Errorf(mediamatch.Unauthenticated, "", "token %s expired at %v", rec.ID, rec.ExpireTime)
	}
	if w := ix.tok.watched.Load(); w != nil {
		if _, ok := (*w)[rec.ID]; ok {
			ix.used(rec.ID)
		}
	}
	return rec.Token, nil
}

// OnFirstUse arranges for f to be called, once and in its own goroutine,
// the first time Authenticate accepts the token with this id from now on
// (the bootstrap admin token's file is removed so). A second call for the
// same id replaces f. Safe for concurrent use.
func (ix *Index) OnFirstUse(id string, f func()) {
	ix.tok.watchMu.Lock()
	defer ix.tok.watchMu.Unlock()
	m := map[string]func(){}
	if w := ix.tok.watched.Load(); w != nil {
		m = maps.Clone(*w)
	}
	m[id] = f
	ix.tok.watched.Store(&m)
}

// used calls and forgets the watcher of the token with this id.
func (ix *Index) used(id string) {
	ix.tok.watchMu.Lock()
	defer ix.tok.watchMu.Unlock()
	w := ix.tok.watched.Load()
	f, ok := (*w)[id]
	if !ok {
		return
	}
	m := maps.Clone(*w)
	delete(m, id)
	ix.tok.watched.Store(&m)
	go f()
}

// Now returns the time by the index's clock (Options.Now): token expiry
// is judged by it.
func (ix *Index) Now() time.Time { return ix.now() }

// liveToken returns nil if the token with this id exists and is neither
// revoked nor expired, else an mediamatch.ErrUnauthenticated error. It reads only
// memory.
func (ix *Index) liveToken(id string) error {
	for _, rec := range *ix.tok.bySecret.Load() {
		if rec.ID != id {
			continue
		}
		switch {
		case !rec.RevokeTime.IsZero():
			return mediamatch.Errorf(mediamatch.Unauthenticated, "", "token %s was revoked", id)
		case !rec.ExpireTime.IsZero() && !ix.now().Before(rec.ExpireTime):
			return mediamatch.Errorf(mediamatch.Unauthenticated, "", "token %s expired at %v", id, rec.ExpireTime)
		}
		return nil
	}
	return mediamatch.Errorf(mediamatch.Unauthenticated, "", "unknown token %s", id)
}

// HasTokens reports whether any token was ever created.
func (ix *Index) HasTokens() bool { return len(*ix.tok.bySecret.Load()) > 0 }

// ListTokens returns every token, revoked ones included, oldest first.
// Errors: mediamatch.ErrClosed. Safe for concurrent use.
func (ix *Index) ListTokens(ctx context.Context) ([]mediamatch.Token, error) {
	return ix.ListTokensWithin(ctx, nil)
}

// ListTokensWithin is ListTokens for an admin limited to the banks in
// scope (empty: unlimited): only the tokens Within scope.
func (ix *Index) ListTokensWithin(ctx context.Context, scope []string) ([]mediamatch.Token, error) {
	if err := ix.enter(ctx); err != nil {
		return nil, err
	}
	defer ix.exit()
	var out []mediamatch.Token
	for _, rec := range *ix.tok.bySecret.Load() {
		if rec.Within(scope) {
			out = append(out, rec.Token)
		}
	}
	slices.SortFunc(out, func(a, b mediamatch.Token) int {
		return cmp.Or(a.CreateTime.Compare(b.CreateTime), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RevokeToken revokes the token with the given id: from its return,
// Authenticate refuses it. Revoking a revoked token changes nothing.
// Errors: mediamatch.ErrNotFound, mediamatch.ErrClosed, or a storage error. Safe for concurrent
// use.
func (ix *Index) RevokeToken(ctx context.Context, id string) (mediamatch.Token, error) {
	return ix.RevokeTokenWithin(ctx, id, nil)
}

// RevokeTokenWithin is RevokeToken for an admin limited to the banks in
// scope (empty: unlimited): a token that is not Within scope is
// mediamatch.ErrNotFound, exactly as an id that does not exist, so that a limited
// admin learns nothing of other tokens.
func (ix *Index) RevokeTokenWithin(ctx context.Context, id string, scope []string) (mediamatch.Token, error) {
	if err := ix.enter(ctx); err != nil {
		return mediamatch.Token{}, err
	}
	defer ix.exit()
	if err := ix.room(writeRoom, true); err != nil {
		return mediamatch.Token{}, err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	var rec tokenRecord
	found := false
	for _, r := range *ix.tok.bySecret.Load() {
		if r.ID == id {
			rec, found = r, true
		}
	}
	if !found || !rec.Within(scope) {
		return mediamatch.Token{}, mediamatch.Errorf(mediamatch.NotFound, "", "token %q", clip(id))
	}
	if rec.RevokeTime.IsZero() {
		rec.RevokeTime = ix.timestamp()
		if err := ix.st.update(func(tx *writeTx) error { return tx.set(tokenKey(id), encodeToken(rec)) }); err != nil {
			return mediamatch.Token{}, storeErr("revoke token", id, err)
		}
		ix.putToken(rec)
	}
	return rec.Token, nil
}

// putToken publishes a token record: the token map is copied on write, so
// Authenticate never waits. The caller holds wmu (or is loading).
func (ix *Index) putToken(rec tokenRecord) {
	m := maps.Clone(*ix.tok.bySecret.Load())
	m[rec.hash] = rec
	ix.tok.bySecret.Store(&m)
}

// loadTokens reads every token record into memory.
func (ix *Index) loadTokens() error {
	m := make(map[[32]byte]tokenRecord)
	err := ix.st.view(func(tx *readTx) error {
		return tx.scan([]byte{keyToken}, nil, false, func(key, val []byte) (bool, error) {
			rec, err := decodeToken(val)
			if err != nil {
				return false, fmt.Errorf("token %q: %w", key[1:], err)
			}
			m[rec.hash] = rec
			return true, nil
		})
	})
	if err != nil {
		return fmt.Errorf("index: load tokens: %w", err)
	}
	ix.tok.bySecret.Store(&m)
	return nil
}

// tokenRecord is a token as stored: with its secret's hash.
type tokenRecord struct {
	mediamatch.Token
	hash [32]byte
}

func tokenKey(id string) []byte { return append([]byte{keyToken}, id...) }

func encodeToken(r tokenRecord) []byte {
	var e encoder
	e.byte(recordV1)
	e.str(r.ID)
	e.str(r.Name)
	e.str(string(r.Role))
	e.uvarint(uint64(len(r.Banks)))
	for _, b := range r.Banks {
		e.str(b)
	}
	e.time(r.CreateTime)
	e.optTime(r.ExpireTime)
	e.optTime(r.RevokeTime)
	e.bytes(r.hash[:])
	return e.b
}

func decodeToken(v []byte) (tokenRecord, error) {
	d := decoder{b: v}
	var r tokenRecord
	if ver := d.byte(); d.err == nil && ver != recordV1 {
		return r, fmt.Errorf("index: token record version %d, want %d", ver, recordV1)
	}
	r.ID, r.Name, r.Role = d.str(), d.str(), mediamatch.Role(d.str())
	if n := d.count(1); n > 0 {
		r.Banks = make([]string, n)
		for i := range r.Banks {
			r.Banks[i] = d.str()
		}
	}
	r.CreateTime = d.time()
	r.ExpireTime = d.optTime()
	r.RevokeTime = d.optTime()
	if h := d.raw(); len(h) == len(r.hash) {
		copy(r.hash[:], h)
	} else {
		d.fail()
	}
	return r, d.done("token record")
}
