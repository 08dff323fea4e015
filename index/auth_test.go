package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ix := openTest(t, dir, Options{Now: clock})
	if ix.HasTokens() {
		t.Fatal("HasTokens on a new index")
	}
	tok, secret, err := ix.CreateToken(ctx, mediamatch.Token{Name: "upload path", Role: mediamatch.RoleMatcher, Banks: []string{"a"}, ExpireTime: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) < 40 || !strings.HasPrefix(tok.ID, "tok_") {
		t.Errorf("secret %q, id %q: want %s... of 32 random bytes, tok_...", secret, tok.ID, tokenPrefix)
	}
	got, err := ix.Authenticate(secret)
	if err != nil || got.ID != tok.ID || got.Role != mediamatch.RoleMatcher || !got.CanUse("a") || got.CanUse("b") {
		t.Errorf("Authenticate = %+v, %v; want the matcher token for bank a only", got, err)
	}
	now = now.Add(time.Second)
	admin, adminSecret, err := ix.CreateToken(ctx, mediamatch.Token{Name: "ops", Role: mediamatch.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}

	// The secret is stored hashed: its bytes appear nowhere in the store.
	ix.Close()
	if leaked := grepDir(t, dir, []byte(secret[len(tokenPrefix):])); leaked != "" {
		t.Errorf("token secret found in %s", leaked)
	}
	ix = openTest(t, dir, Options{Now: clock})
	if _, err := ix.Authenticate(secret); err != nil {
		t.Errorf("after reopen: Authenticate = %v", err)
	}

	bad := []struct {
		name, secret string
		at           time.Time
	}{
		{"missing", "", now},
		{"not ours", "Bearer xyz", now},
		{"unknown", tokenPrefix + "AAAA", now},
		{"truncated", secret[:len(secret)-1], now},
		{"expired", secret, now.Add(time.Hour)},
	}
	for _, b := range bad {
		now = b.at
		if _, err := ix.Authenticate(b.secret); !errors.Is(err, mediamatch.ErrUnauthenticated) {
			t.Errorf("%s: Authenticate = %v, want mediamatch.ErrUnauthenticated", b.name, err)
		}
	}
	now = now.Add(-time.Hour)

	if _, err := ix.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Authenticate(secret); !errors.Is(err, mediamatch.ErrUnauthenticated) {
		t.Errorf("revoked: Authenticate = %v, want mediamatch.ErrUnauthenticated", err)
	}
	ix.Close()
	ix = openTest(t, dir, Options{Now: clock})
	if _, err := ix.Authenticate(secret); !errors.Is(err, mediamatch.ErrUnauthenticated) {
		t.Errorf("revoked, after reopen: Authenticate = %v, want mediamatch.ErrUnauthenticated", err)
	}
	if _, err := ix.Authenticate(adminSecret); err != nil {
		t.Errorf("admin after reopen: %v", err)
	}
	list, err := ix.ListTokens(ctx)
	if err != nil || len(list) != 2 || list[0].ID != tok.ID || list[0].RevokeTime.IsZero() || list[1].ID != admin.ID {
		t.Errorf("ListTokens = %+v, %v; want the revoked matcher then the admin", list, err)
	}
	if _, err := ix.RevokeToken(ctx, "tok_nope"); !errors.Is(err, mediamatch.ErrNotFound) {
		t.Errorf("RevokeToken(unknown) = %v, want mediamatch.ErrNotFound", err)
	}
	for _, tk := range []mediamatch.Token{{Name: "", Role: mediamatch.RoleAdmin}, {Name: "x", Role: "root"}, {Name: "x", Role: mediamatch.RoleCurator, Banks: []string{"bad name!"}},
		{Name: "x", Role: mediamatch.RoleMatcher, ExpireTime: now.Add(-time.Second)}} {
		if _, _, err := ix.CreateToken(ctx, tk); !errors.Is(err, mediamatch.ErrInvalid) {
			t.Errorf("CreateToken(%+v) = %v, want mediamatch.ErrInvalid", tk, err)
		}
	}
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ix := openTest(t, dir, Options{})
	for i := range 25 {
		if err := ix.AppendAudit(ctx, mediamatch.AuditEntry{Actor: "tok_1 ops", Role: mediamatch.RoleCurator, Action: "BankService/DeleteItem",
			Target: fmt.Sprintf("b/%d", i), Detail: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	ix.Close()
	ix = openTest(t, dir, Options{})
	var all []mediamatch.AuditEntry
	tok := ""
	for {
		page, next, err := ix.ListAudit(ctx, 10, tok)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		tok = next
	}
	if len(all) != 25 {
		t.Fatalf("%d entries, want 25", len(all))
	}
	for i, e := range all {
		if e.Target != fmt.Sprintf("b/%d", i) || e.Actor != "tok_1 ops" || e.Role != mediamatch.RoleCurator || e.Time.IsZero() {
			t.Errorf("entry %d = %+v", i, e)
		}
	}
	if _, _, err := ix.ListAudit(ctx, 10, "garbage"); !errors.Is(err, mediamatch.ErrInvalid) {
		t.Errorf("ListAudit(bad token) = %v, want mediamatch.ErrInvalid", err)
	}
}

// grepDir returns the first file under dir that contains needle, or "".
func grepDir(t *testing.T, dir string, needle []byte) string {
	t.Helper()
	found := ""
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, needle) {
			found = path
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
