package hostile

import (
	"os"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// This file holds what the tests of hostile input share besides the
// files: a watch on the heap while bombs decode at once, and a descriptor
// leaked to child processes.

// HeapObjects returns the bytes of the heap's objects, live or not yet
// collected (runtime/metrics' /memory/classes/heap/objects:bytes).
func HeapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// WatchHeap samples HeapObjects every millisecond until stop is called
// (once), which returns the largest sample, one taken at the call
// included.
func WatchHeap() (stop func() uint64) {
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var p uint64
		for {
			p = max(p, HeapObjects())
			select {
			case <-done:
				peak <- max(p, HeapObjects())
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-peak
	}
}

// AllAtOnce calls feed with each of files at once, each from a goroutine
// of its own, while watching the heap (WatchHeap). It returns the calls'
// errors, in the order of files, and the heap's peak.
func AllAtOnce(files [][]byte, feed func(data []byte) error) (errs []error, heapPeak uint64) {
	stop := WatchHeap()
	errs = make([]error, len(files))
	var wg sync.WaitGroup
	for i, data := range files {
		wg.Go(func() { errs[i] = feed(data) })
	}
	wg.Wait()
	return errs, stop()
}

// LeakedDescriptor writes a file "secret" into a temporary directory of
// t and opens it without close-on-exec, as a descriptor inherited from
// this process's parent (or opened by C code) would be: one that every
// child process started without care inherits. It returns the file's path
// and the descriptor, which is closed when the test ends; it fails the
// test if either step fails.
func LeakedDescriptor(t testing.TB) (path string, fd int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("not for ffmpeg"), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return path, fd
}
