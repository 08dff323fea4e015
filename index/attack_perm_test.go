package index

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestAttackDataDirModes: a data dir made beforehand
// with `mkdir -p` (0755), holding files Badger wrote 0644, must not stay
// readable by other users once the index opens it.
func TestAttackDataDirModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	ix, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	failLooseModes(t, dir, "after the first Open")
	if _, err := ix.CreateBank(t.Context(), mediamatch.Bank{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	// An index left loose by an older version: every file 0644, the dir
	// 0755. Open tightens them and says so.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chmod(p, 0o644)
		}
		return nil
	})
	var logs bytes.Buffer
	ix, err = Open(dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	failLooseModes(t, dir, "after reopening a loose index")
	if !strings.Contains(logs.String(), "0755") || !strings.Contains(logs.String(), "0644") {
		t.Errorf("Open tightened modes without a warning naming them; log:\n%s", logs.String())
	}
	if _, err := ix.GetBank(t.Context(), "b"); err != nil {
		t.Errorf("GetBank after reopening: %v", err)
	}
}

// failLooseModes fails the test for the data dir, or any file in it, that
// gives group or others any access.
func failLooseModes(t *testing.T, dir, when string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %s has mode %v, want no access for group and others", when, p, fi.Mode().Perm())
		}
		return nil
	})
}
