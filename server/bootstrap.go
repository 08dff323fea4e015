package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"github.com/mediamatch/mediamatch/index"
)

// BootstrapTokenFile is the file in the data dir where Run writes the
// secret of the admin token it creates on the first start that requires
// authentication.
const BootstrapTokenFile = "bootstrap-admin-token"

// BootstrapTokenTTL is how long the bootstrap admin token lives: long
// enough to create the real admin tokens with it, and no longer.
const BootstrapTokenTTL = 24 * time.Hour

// bootstrapTokens is what the bootstrap token needs of the token store,
// besides the audit log: *index.Index satisfies it.
type bootstrapTokens interface {
	CreateToken(ctx context.Context, t mediamatch.Token) (mediamatch.Token, string, error)
	RevokeToken(ctx context.Context, id string) (mediamatch.Token, error)
	Authenticate(secret string) (mediamatch.Token, error)
	OnFirstUse(id string, f func())
	Now() time.Time // the store's clock, which token expiry follows
}

// bootstrapToken creates an admin token named "bootstrap" that expires
// after BootstrapTokenTTL and writes its secret to BootstrapTokenFile in
// dir (created with mode 0600; an existing file is an error, never
// overwritten). It returns the file's path. On error no token is left
// behind that nobody knows. The file is removed when the token is first
// used, or when it expires (see WatchBootstrapToken).
func bootstrapToken(ctx context.Context, ix bootstrapTokens, audit AuditLog, dir string) (string, error) {
	path := filepath.Join(dir, BootstrapTokenFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("server: bootstrap admin token: %w (remove the file, or create a token with "+
			"`mediamatch token create --data DIR`)", err)
	}
	tok, secret, err := ix.CreateToken(ctx, mediamatch.Token{Name: "bootstrap", Role: mediamatch.RoleAdmin,
		ExpireTime: ix.Now().Add(BootstrapTokenTTL)})
	if err == nil {
		_, err = f.WriteString(secret + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_, _ = ix.RevokeToken(context.WithoutCancel(ctx), tok.ID)
		}
	} else {
		f.Close()
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("server: bootstrap admin token: %w", err)
	}
	_ = audit.AppendAudit(ctx, mediamatch.AuditEntry{Actor: "serve (bootstrap)", Role: mediamatch.RoleAdmin,
		Action: "AdminService/CreateToken", Target: "name bootstrap", Detail: "ok id=" + tok.ID + " role=admin banks=all file=" + path +
			" expires=" + tok.ExpireTime.Format(time.RFC3339)})
	watchBootstrap(ix, audit, path, tok)
	return path, nil
}

// WatchBootstrapToken removes the bootstrap token's file from dir (see
// BootstrapTokenFile) once it is of no use: at once when its secret is no
// longer accepted (expired, revoked, or unknown), else when the token is
// first used or when it expires, whichever comes first. Run calls it at
// every start, so that a file left by an earlier run goes too. It returns
// an error only if the file exists and cannot be read or removed.
func WatchBootstrapToken(ix *index.Index, dir string) error {
	path := filepath.Join(dir, BootstrapTokenFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("server: bootstrap admin token: %w", err)
	}
	tok, err := ix.Authenticate(strings.TrimSpace(string(b)))
	if err != nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("server: bootstrap admin token: %w", err)
		}
		return nil
	}
	watchBootstrap(ix, ix, path, tok)
	return nil
}

// watchBootstrap removes the file at path when tok is first used or
// expires, and records the removal in the audit log.
func watchBootstrap(ix bootstrapTokens, audit AuditLog, path string, tok mediamatch.Token) {
	var once sync.Once
	remove := func(why string) {
		once.Do(func() {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return
			}
			_ = audit.AppendAudit(context.Background(), mediamatch.AuditEntry{Actor: "serve (bootstrap)", Role: mediamatch.RoleAdmin,
				Action: "bootstrap token file removed", Target: tok.ID, Detail: "ok " + why + " file=" + path})
		})
	}
	var timer *time.Timer
	if !tok.ExpireTime.IsZero() {
		timer = time.AfterFunc(tok.ExpireTime.Sub(ix.Now()), func() { remove("expired") })
	}
	ix.OnFirstUse(tok.ID, func() {
		if timer != nil {
			timer.Stop()
		}
		remove("first used")
	})
}

// CreateTokenOffline creates a token in the index in dataDir without a
// server, for the first admin token (`mediamatch token create --data`),
// and records it in the audit log with actor "offline (actor)". The data
// dir must exist and no server may be running on it (the store allows one
// process). It returns the token and its secret, which is not stored and
// cannot be read again. Errors: a missing data dir, an index in use or
// that cannot be opened, and CreateToken's (mediamatch.ErrInvalid for a bad
// name, role, bank or expiry).
func CreateTokenOffline(ctx context.Context, dataDir string, t mediamatch.Token, actor string) (mediamatch.Token, string, error) {
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		switch {
		case err == nil:
			err = errors.New("not a directory")
		case errors.Is(err, fs.ErrNotExist):
			err = errors.New("does not exist")
		}
		return mediamatch.Token{}, "", fmt.Errorf("data dir %s: %w (give the --data of `mediamatch serve`)", dataDir, err)
	}
	ix, err := index.Open(dataDir, index.Options{})
	if err != nil {
		return mediamatch.Token{}, "", fmt.Errorf("open index in %s (is `mediamatch serve` running on it? stop it, "+
			"or create the token over the API without --data): %w", dataDir, err)
	}
	tok, secret, err := ix.CreateToken(ctx, t)
	if err == nil {
		banks := "all"
		if len(tok.Banks) > 0 {
			banks = fmt.Sprint(tok.Banks)
		}
		err = ix.AppendAudit(ctx, mediamatch.AuditEntry{Actor: "offline (" + actor + ")", Role: mediamatch.RoleAdmin,
			Action: "AdminService/CreateToken", Target: "name " + tok.Name,
			Detail: fmt.Sprintf("ok id=%s role=%s banks=%s", tok.ID, tok.Role, banks)})
	}
	if cerr := ix.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return mediamatch.Token{}, "", err
	}
	return tok, secret, nil
}
