package mmtest

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

func TestModuleRoot(t *testing.T) {
	root := ModuleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("ModuleRoot() = %s, which has no go.mod: %v", root, err)
	}
	if want, _ := filepath.Abs(filepath.Join("..", "..", "..")); root != want {
		t.Errorf("ModuleRoot() = %s, want %s", root, want)
	}
}

func TestSharedPath(t *testing.T) {
	p, err := SharedPath("no-such-entry")
	if err == nil {
		t.Fatalf("SharedPath(no-such-entry) = %s, nil; want an error", p)
	}
	if want := filepath.Join(filepath.Dir(ModuleRoot(t)), "shared", "no-such-entry"); p != want {
		t.Errorf("SharedPath(no-such-entry) = %s, want %s", p, want)
	}
}

// TestMissing checks the policy: skip outside CI, fail under CI.
func TestMissing(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			var ft fakeT
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // Skipf and Fatalf end the goroutine.
				defer wg.Done()
				Missing(&ft, "the %s binary", "nothing")
			}()
			wg.Wait()
			if ft.skipped == (ci != "") || ft.failed == (ci == "") {
				t.Errorf("CI=%q: skipped %v, failed %v", ci, ft.skipped, ft.failed)
			}
		})
	}
}

// fakeT records how a helper ended a test.
type fakeT struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Skipf(string, ...any) {
	f.skipped = true
	runtime.Goexit()
}
func (f *fakeT) Fatalf(string, ...any) {
	f.failed = true
	runtime.Goexit()
}

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("x"))
			}
		}()
	}
	wg.Wait()
	if b.Len() != 800 || len(b.String()) != 800 {
		t.Errorf("Len() = %d, len(String()) = %d, want 800", b.Len(), len(b.String()))
	}
}

// TestThreadCPU checks that ThreadCPU counts the thread's own work: a
// loop of some milliseconds on a locked thread advances it by about that.
func TestThreadCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ThreadCPU reads 0 off Linux")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := ThreadCPU()
	x := uint64(1)
	for i := range 20_000_000 {
		x = x*6364136223846793005 + uint64(i)
	}
	if d := ThreadCPU() - c0; d <= 0 || x == 0 {
		t.Fatalf("ThreadCPU advanced by %v over a busy loop, want more than 0", d)
	}
}
