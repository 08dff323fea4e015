package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestValueLogGC deletes many items whose media records live in the value
// log, and checks that a GC round reclaims the log files and is counted,
// and that Close stops the background loop.
func TestValueLogGC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Media records above 512 bytes go to the value log (Badger keeps
	// values up to 1 MiB in its tables by default, so the index's own
	// records seldom do), and the log rotates every MiB.
	opts := Options{VlogGCInterval: -1, tune: storeTuning{valueThreshold: 512, vlogFileSize: 1 << 20, compactOnClose: true}}
	ix, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	mustBank(t, ix, "b")
	const n = 400
	for i := range n {
		hashes := make([][]byte, 100) // a 100-keyframe video: a record of some 2 KB
		for k := range hashes {
			hashes[k] = binary.BigEndian.AppendUint64(nil, uint64(i*1000+k+1))
		}
		mustAdd(t, ix, mediamatch.Item{Bank: "b", ID: fmt.Sprint("v", i), Media: video(hashes...)})
	}
	for i := range n {
		if err := ix.DeleteItem(ctx, "b", fmt.Sprint("v", i)); err != nil {
			t.Fatalf("DeleteItem(v%d) = %v", i, err)
		}
	}
	// Closing flushes the memtable and compacts it, which drops the
	// deleted records and tells the value log how much of each file is
	// garbage.
	if err := ix.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	ix = openTest(t, dir, opts)
	before := ix.Stats()
	rewrote, err := ix.RunValueLogGC(ctx)
	if err != nil {
		t.Fatalf("RunValueLogGC = %d, %v", rewrote, err)
	}
	after := ix.Stats()
	if after.VlogGCRuns != before.VlogGCRuns+1 {
		t.Errorf("VlogGCRuns = %d after a round, want %d", after.VlogGCRuns, before.VlogGCRuns+1)
	}
	if rewrote == 0 || after.VlogGCRewrites != before.VlogGCRewrites+uint64(rewrote) {
		t.Errorf("RunValueLogGC rewrote %d files, VlogGCRewrites %d -> %d; want > 0 and counted",
			rewrote, before.VlogGCRewrites, after.VlogGCRewrites)
	}
}

// TestValueLogGCLoopStops opens indexes with a fast background GC and
// checks that Close leaves none of its goroutines behind, and that the
// loop runs rounds meanwhile.
func TestValueLogGCLoopStops(t *testing.T) {
	base := runtime.NumGoroutine()
	for range 3 {
		ix, err := Open(t.TempDir(), Options{VlogGCInterval: time.Millisecond})
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		for ix.Stats().VlogGCRuns == 0 {
			time.Sleep(time.Millisecond)
		}
		if err := ix.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
	}
	// Badger's own goroutines end with the store; give the scheduler a
	// moment to retire them before counting.
	var now int
	for range 100 {
		if now = runtime.NumGoroutine(); now <= base {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Errorf("%d goroutines after Close, %d before:\n%s", now, base, buf[:runtime.Stack(buf, true)])
}

func TestRunValueLogGCClosed(t *testing.T) {
	ix, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	ix.Close()
	if _, err := ix.RunValueLogGC(context.Background()); err != mediamatch.ErrClosed {
		t.Errorf("RunValueLogGC after Close = %v, want %v", err, mediamatch.ErrClosed)
	}
}
