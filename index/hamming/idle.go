package hamming

import (
	"sync"
	"time"
)

// idleCompact is how long a Searcher or KeyIndex must go without writes
// before its tail is sealed and its segments are merged into one. A
// search probes every segment and scans the whole tail, a cost per query
// that the merge policy bounds only to O(log n) segments and a tail of
// thousands of entries: an import or a run of single adds leaves several
// segments behind it, and a default match (the primary search, its
// rotated variants, the views, the local vote) paid for them on every
// query (BenchmarkMatchViewsCost). Merging only the newer segments into
// one beside the oldest was measured too: a second segment of 5,440
// entries beside 194,560 doubled the exact PDQ search (its probes are per
// segment).
const idleCompact = 2 * time.Second

// idleCost bounds the CPU that compactions take from a trickle of writes
// (an add every few seconds would otherwise rewrite a large index after
// each): the quiet time before a compaction is at least idleCost times
// what the last one took, so they take at most about 1/idleCost of a
// core.
const idleCost = 10

// idler runs a compaction once writes stop, for a Searcher or a
// KeyIndex (its owner): touch arms a timer at every write; when it fires
// and the quiet time has passed since the last write (fire), the owner's
// tail is sealed and, if that leaves several segments, the next merge
// takes them all (take). The owner's mutex guards it.
type idler struct {
	after     time.Duration // least quiet time; <= 0: never
	lastWrite time.Time
	armed     bool          // the timer is set to fire
	timer     *time.Timer   // calls the owner's idle function
	compact   bool          // the next merge takes every segment
	started   time.Time     // when the merges of the compaction due began
	cost      time.Duration // what the last compaction took
}

// compactable is what a compaction when idle needs of its owner. Its
// mutex is held for sealTail and startMerge.
type compactable interface {
	// sealTail seals the tail of the current view into a segment and
	// publishes the view; it reports whether there was a tail.
	sealTail() bool
	// mergeWanted reports whether the current view has segments to
	// merge (wants).
	mergeWanted() bool
	// startMerge starts the merging goroutine unless it runs.
	startMerge()
	// merged calls the owner's Merged callback, if any.
	merged()
}

// fire is the timer's function for owner o, whose mutex is mu.
func (d *idler) fire(mu *sync.Mutex, o compactable) {
	mu.Lock()
	if !d.due() {
		mu.Unlock()
		return
	}
	sealed := o.sealTail()
	d.compact = true
	if o.mergeWanted() {
		d.started = time.Now()
		o.startMerge() // or the merges running end with it
		mu.Unlock()
		return
	}
	d.compact = false
	mu.Unlock()
	if sealed {
		o.merged() // republish: the tail is a segment now
	}
}

// take returns the segments of segs to merge, [lo, hi), given the merge
// policy's choice: that, or else all of them if a compaction is due,
// which it takes.
func take[S mergeable](d *idler, segs []S, lo, hi int, ok bool) (int, int, bool) {
	if ok {
		return lo, hi, ok
	}
	if d.compact {
		d.compact = false
		if len(segs) > 1 {
			return 0, len(segs), true
		}
	}
	return 0, 0, false
}

// wants reports whether take would merge some of segs, without taking
// the compaction due.
func wants[S mergeable](d *idler, segs []S, ok bool) bool {
	return ok || d.compact && len(segs) > 1
}

// touch notes a write now and arms the timer to call fire once after
// quiet time, if it is not armed.
func (d *idler) touch(fire func()) {
	if d.after <= 0 {
		return
	}
	d.lastWrite = time.Now()
	if d.armed {
		return
	}
	d.armed = true
	if d.timer == nil {
		d.timer = time.AfterFunc(d.after, fire)
	} else {
		d.timer.Reset(d.after)
	}
}

// due reports, when the timer fires, whether the compaction should run
// now: the timer is armed and no write came for the quiet time. If a
// write came since, it sets the timer to fire again when that will be so.
func (d *idler) due() bool {
	if !d.armed {
		return false // cancelled since it was set (disarm)
	}
	if rest := max(d.after, idleCost*d.cost) - time.Since(d.lastWrite); rest > 0 {
		d.timer.Reset(rest)
		return false
	}
	d.armed = false
	return true
}

// disarm cancels a compaction not yet due: none starts until the next
// write, so that none outlives the owner's user (Wait).
func (d *idler) disarm() { d.armed = false }

// ended notes that the merges ended: a compaction started is done, and
// took what it took.
func (d *idler) ended() {
	d.compact = false
	if !d.started.IsZero() {
		d.cost, d.started = time.Since(d.started), time.Time{}
	}
}
