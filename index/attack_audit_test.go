package index

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// auditTestClock is a clock safe for the index's background loops.
type auditTestClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *auditTestClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *auditTestClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// auditTargetsWithin waits (up to a minute) until the audit log holds
// want entries, and returns their targets.
func auditTargetsWithin(t *testing.T, ix *Index, want int) []string {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		got = got[:0]
		for tok := ""; ; {
			page, next, err := ix.ListAudit(t.Context(), 1000, tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				got = append(got, e.Target)
			}
			if tok = next; tok == "" {
				break
			}
		}
		if len(got) == want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log holds %d entries a minute on, want %d", len(got), want)
		}
	}
}

// TestAttackAuditFloodRetention (the index's part of an audit flood): a
// flood of audit entries must not grow the log without bound, and old
// entries must go after the retention.
func TestAttackAuditFloodRetention(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	clk := &auditTestClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	opts := Options{Now: clk.now, AuditRetention: 24 * time.Hour, AuditMaxEntries: 300}
	ix, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		if err := ix.AppendAudit(ctx, mediamatch.AuditEntry{Actor: "flood", Action: "BankService/DeleteBank", Target: fmt.Sprintf("t%04d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = openTest(t, dir, opts)
	got := auditTargetsWithin(t, ix, 300)
	if got[0] != "t0300" || got[299] != "t0599" {
		t.Errorf("audit log kept %s..%s, want the newest 300: t0300..t0599", got[0], got[299])
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	// Two days on, only what is younger than a day stays.
	clk.add(48 * time.Hour)
	ix = openTest(t, dir, opts)
	if err := ix.AppendAudit(ctx, mediamatch.AuditEntry{Actor: "admin", Action: "BankService/CreateBank", Target: "fresh"}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = openTest(t, dir, opts)
	if got := auditTargetsWithin(t, ix, 1); got[0] != "fresh" {
		t.Errorf("audit log after the retention = %v, want only the fresh entry", got)
	}
}
