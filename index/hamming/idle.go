package hamming

import "time"

// idleCompact is how long a Searcher or KeyIndex must go without writes
// before its tail is sealed and its segments are merged into one. A
// search probes every segment and scans the whole tail, a cost per query
// that the merge policy bounds only to O(log n) segments and a tail of
// thousands of entries: an import or a run of single adds leaves several
// segments behind it, and a default match (the primary search, its
// rotated variants, the views, the local vote) paid for them on every
// query (BenchmarkMatchViewsCost). The compaction costs what the
// policy's merge of the largest segment costs (its entries held twice
// while it runs), once a run of writes has ended.
const idleCompact = 2 * time.Second

// idler sets a compaction to run once writes stop: touch arms a timer
// at every write, and the timer's function asks due whether the quiet
// time has passed since the last write. Its owner's mutex guards it.
type idler struct {
	after     time.Duration // quiet time; <= 0: never
	lastWrite time.Time
	armed     bool        // the timer is set to fire
	timer     *time.Timer // calls the owner's idle function
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
