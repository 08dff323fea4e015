// Package mmtest provides helpers for mediamatch's tests, like
// net/http/httptest: it finds the external programs (ffmpeg, ffprobe) and
// the shared data (../shared beside the module root) that tests need, and
// it holds the one policy for when they are missing. Outside CI a test
// whose dependency is missing is skipped; under CI (the environment
// variable CI non-empty) it fails and names what is missing, so that a CI
// run never passes by skipping.
//
// It imports the standard library only, like the rest of api/.
package mmtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// CI reports whether the tests run under CI: the environment variable CI
// is non-empty.
func CI() bool { return os.Getenv("CI") != "" }

// Missing ends the test because something it needs is missing: it skips
// the test, or under CI fails it. The message (fmt.Sprintf(format, args))
// should name what is missing.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("missing under CI (CI=%q): %s", os.Getenv("CI"), msg)
	}
	t.Skipf("missing: %s (set CI to make this a failure)", msg)
}

// FFmpeg returns the path of the ffmpeg binary on $PATH, or ends the test
// (Missing) when there is none.
func FFmpeg(t testing.TB) string {
	t.Helper()
	return program(t, "ffmpeg")
}

// FFprobe returns the path of the ffprobe binary on $PATH, or ends the test
// (Missing) when there is none.
func FFprobe(t testing.TB) string {
	t.Helper()
	return program(t, "ffprobe")
}

func program(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "the %s binary: %v", name, err)
	}
	return p
}

// ModuleRoot returns the absolute path of the directory holding go.mod,
// found by walking up from the working directory (a test runs in its
// package's directory). It fails the test if there is none.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("mmtest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// SharedPath returns the absolute path of ../shared/<sub...> relative to
// the module root, and whether it exists, without ending the test: for
// tests that have a fallback of their own.
func SharedPath(sub ...string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(append([]string{root, "..", "shared"}, sub...)...)
	if _, err := os.Stat(p); err != nil {
		return p, err
	}
	return p, nil
}

// Shared returns the absolute path of ../shared/<sub...> relative to the
// module root (the shared media, the PDQ reference data, FORMATS.md), or
// ends the test (Missing) when it does not exist.
func Shared(t testing.TB, sub ...string) string {
	t.Helper()
	p, err := SharedPath(sub...)
	if err != nil {
		Missing(t, "shared test data %s (../shared beside the module root): %v", p, err)
	}
	return p
}

// ReadShared returns the contents of ../shared/<sub...>, or ends the test
// (Missing) when the file does not exist; other errors fail the test.
func ReadShared(t testing.TB, sub ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(Shared(t, sub...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SyncBuffer is a bytes.Buffer that is safe for concurrent use: a log
// destination for servers and child processes whose output a test reads.
// The zero value is ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Len returns the number of bytes written so far.
func (s *SyncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}
