package hamming

import (
	"sync"
	"time"
)

// idleCompact is how long a Searcher or KeyIndex must go without writes
// before its tail is sealed and its newer segments are merged (see
// idleMerge). A search probes every segment and scans the whole tail, a
// cost per query that the merge policy bounds only to O(log n) segments
// and a tail of thousands of entries: an import or a run of single adds
// leaves several segments behind it, and a default match (the primary
// search, its rotated variants, the views, the local vote) paid for them
// on every query (BenchmarkMatchViewsCost).
const idleCompact = 2 * time.Second

// idler runs a compaction once writes stop, for a Searcher or a
// KeyIndex (its owner): touch arms a timer at every write; when it fires
// and the quiet time has passed since the last write (fire), the owner's
// tail is sealed and, if that leaves several segments, the next merge
// takes idleMerge's (take). The owner's mutex guards it.
type idler struct {
	after     time.Duration // quiet time; <= 0: never
	lastWrite time.Time
	armed     bool        // the timer is set to fire
	timer     *time.Timer // calls the owner's idle function
	compact   bool        // the next merge takes idleMerge's segments
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

// idleRatio bounds what a compaction when idle rewrites: the oldest
// (largest) segment is merged with the newer ones only once they hold
// 1/idleRatio of its live entries; before that, only the newer ones are
// merged into one. So an idle index has at most two segments, and a
// single add after a quiet spell costs a merge of the small ones, not a
// rewrite of millions of entries (each entry is rewritten by compactions
// at most about idleRatio times as the index grows, beside the merge
// policy's O(log n)).
const idleRatio = 32

// idleMerge returns the segments of segs (oldest first) that a
// compaction when idle merges, [lo, hi), if any (see idleRatio).
func idleMerge[S mergeable](segs []S) (lo, hi int, ok bool) {
	if len(segs) < 2 {
		return 0, 0, false
	}
	newer := 0
	for _, st := range segs[1:] {
		newer += st.live()
	}
	if newer*idleRatio >= segs[0].live() {
		return 0, len(segs), true
	}
	if len(segs) > 2 {
		return 1, len(segs), true
	}
	return 0, 0, false
}

// take returns the segments of segs to merge, [lo, hi), given the merge
// policy's choice: that, or else idleMerge's if a compaction is due,
// which it takes.
func take[S mergeable](d *idler, segs []S, lo, hi int, ok bool) (int, int, bool) {
	if ok {
		return lo, hi, ok
	}
	if d.compact {
		d.compact = false
		return idleMerge(segs)
	}
	return 0, 0, false
}

// wants reports whether take would merge some of segs, without taking
// the compaction due.
func wants[S mergeable](d *idler, segs []S, ok bool) bool {
	if ok {
		return true
	}
	_, _, merge := idleMerge(segs)
	return d.compact && merge
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
	if rest := d.after - time.Since(d.lastWrite); rest > 0 {
		d.timer.Reset(rest)
		return false
	}
	d.armed = false
	return true
}

// disarm cancels a compaction not yet due: none starts until the next
// write, so that none outlives the owner's user (Wait).
func (d *idler) disarm() { d.armed = false }

// ended notes that the merges ended: a compaction due is done.
func (d *idler) ended() { d.compact = false }
