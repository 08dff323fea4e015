package hamming

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"sort"
	"unsafe"
)

// Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming
// Space with Multi-Index Hashing", CVPR 2012), as built into a segment.
//
// Each hash is cut into m disjoint substrings; table j maps the value of
// substring j to the entries that have it. If two hashes are within
// distance r and table j is probed within radius t_j, with the t_j summing
// to at least r-m+1 (t_j = -1 skips a table), then some substring j is
// within t_j (else the distance would be at least sum(t_j+1) > r). So
// probing every key within t_j of the query's substring in every table,
// and verifying the full distance of what the buckets hold, finds every
// entry within r: the search is exact. The t_j used are floor(r/m) for
// r-m*floor(r/m)+1 tables and one less for the rest, given first to the
// tables where the query's own bucket is smallest.
//
// A hit reached through several tables is reported once, by its owner:
// the first table in probe order in which its substring is within that
// table's radius. No set of seen entries is kept.
//
// A table is a sorted array: 2^s+1 bucket offsets (s the substring width;
// 16 bits each and a 32-bit base every 256 buckets, where that fits)
// delimit each bucket's run of entry positions, which are stored either
// as uint32s or, where it is smaller, Elias-Fano coded: the low s bits of
// each position packed, the rest in unary in a bit array, about s+2 bits
// a position. So a 10-million-entry table of 21-bit substrings takes 3.3
// bytes an entry where uint32 positions and offsets would take 4.8.
//
// Tables of 64-bit hashes are usually built another way, with the hash
// bits in the buckets themselves (inline.go).

const (
	maxSubs  = 32 // most substrings a plan may use
	maxWidth = 24 // widest substring: a 64 MiB offset table
)

// The cost model, in nanoseconds, measured on the 2-core EPYC the
// benchmarks run on (searchbench_test.go); only ratios matter. A search
// is bound by random reads: a bucket's offsets and positions, then each
// candidate's hash. What one costs depends on the size of the array read,
// that is, on the cache level it stays in (with several reads in flight).
const (
	costKey    = 10.0 // per table per query: substring, own bucket, order
	costDecode = 1.5  // decode one Elias-Fano position
	costScan1  = 1.0  // scan one 64-bit hash
	costScanW  = 0.9  // scan one word of a longer hash
)

// missCost estimates one random read into an array of size bytes, as it
// comes out in searches at 1 and 10 million hashes (the lines a probe
// reads depend on each other, so fewer reads overlap than in a plain
// gather).
func missCost(size float64) float64 {
	switch {
	case size <= 1<<20:
		return 4
	case size <= 8<<20:
		return 12
	case size <= 32<<20:
		return 30
	}
	return 50
}

// tableCosts estimates, for a table of the given width and coding over n
// hashes of words words, the cost of probing one bucket and of verifying
// one candidate found there.
func tableCosts(n, words, width int, ef bool) (probe, cand float64) {
	probe = 2 + missCost(dirBytes(n, width))
	cand = 1 + missCost(8*float64(words*n))
	if ef {
		probe += missCost(efBytes(n, width))
		cand += costDecode
	} else {
		probe += missCost(plainBytes(n))
	}
	return probe, cand
}

// scanCost estimates the nanoseconds to scan n hashes of words words.
func scanCost(n, words int) float64 {
	if words == 1 {
		return float64(n) * costScan1
	}
	return float64(n) * float64(words) * costScanW
}

// ballSize returns the number of s-bit keys within distance t of a key.
func ballSize(s, t int) float64 {
	if t < 0 {
		return 0
	}
	if t >= s {
		return math.Ldexp(1, s)
	}
	c, sum := 1.0, 1.0
	for k := 1; k <= t; k++ {
		c = c * float64(s-k+1) / float64(k)
		sum += c
	}
	return sum
}

// planProbes orders the n tables by the size of the query's own bucket in
// each (sc.own), smallest first, into sc.order, and gives the first m of
// them their probe radii (subRadius, at most the table's width), or 0 each
// if near (the query's own bucket only: see View.SearchNear).
func (sc *mihScratch) planProbes(n, m, radius int, near bool, width func(j int) int) {
	for j := range n {
		// Insertion sort: n is small.
		i := j
		for ; i > 0 && sc.own[sc.order[i-1]] > sc.own[j]; i-- {
			sc.order[i] = sc.order[i-1]
		}
		sc.order[i] = j
	}
	for i, j := range sc.order[:m] {
		if near {
			sc.radii[j] = 0
			continue
		}
		sc.radii[j] = min(subRadius(radius, m, i), width(j))
	}
}

// subRadius returns the probe radius of the i-th table in probe order for
// a search at radius r over m tables.
func subRadius(r, m, i int) int {
	q := r / m
	if i <= r-m*q {
		return q
	}
	return q - 1
}

// subPlan is the substrings of a segment's tables: widths[j] bits each, laid
// out from the most significant bit of the first word; bits past their sum
// are not indexed (the search stays exact, see above). ef[j] selects the
// Elias-Fano coding for table j.
type subPlan struct {
	widths []int
	ef     []bool
	inline bool // an inlineSeg (64-bit only)
}

// efLowBits returns the low bits an Elias-Fano table of width bits over n
// positions stores explicitly: about log2 of the universe over the mean
// bucket, which is the width (fewer if n needs fewer).
func efLowBits(n, width int) uint {
	return uint(min(width, bits.Len(uint(max(n, 1)-1))))
}

// efBytes and plainBytes are the bytes of a table's positions.
func efBytes(n, width int) float64 {
	low := efLowBits(n, width)
	stride := float64((max(n, 1)-1)>>low + 1)
	return float64(n)*float64(low)/8 + (float64(n)+math.Ldexp(stride, width))/8 + 16
}

func plainBytes(n int) float64 { return 4 * float64(n) }

// dirBytes estimates the bytes of a table's bucket offsets: compact (16
// bits a bucket and a 32-bit base every 256) unless a block of 256 buckets
// could hold 65536 positions.
func dirBytes(n, width int) float64 {
	if compactDir(n, width) {
		return 2*math.Ldexp(1, width) + 4*math.Ldexp(1, width-8) + 8
	}
	return 4 * (math.Ldexp(1, width) + 1)
}

func compactDir(n, width int) bool {
	return width >= 8 && math.Ldexp(float64(n), 8-width) < 1<<14
}

// evaluate fills in the coding of each table of p (the smaller, unless
// forced) and returns the estimated cost of one search at radius r over n
// entries, in nanoseconds, and the bytes of the tables.
func (p *subPlan) evaluate(n, words, r int, force int8) (cost, bytes float64) {
	m := len(p.widths)
	p.ef = make([]bool, m)
	cost = float64(m) * costKey
	// Narrower tables first: the larger radius is cheapest there.
	sorted := slices.Clone(p.widths)
	slices.Sort(sorted)
	for i, w := range sorted {
		probe, cand := tableCosts(n, words, w, useEF(n, w, force))
		probes := ballSize(w, subRadius(r, m, i))
		cost += probes * (probe + math.Ldexp(float64(n), -w)*cand)
	}
	for i, w := range p.widths {
		ef := useEF(n, w, force)
		p.ef[i] = ef
		bytes += dirBytes(n, w)
		if ef {
			bytes += efBytes(n, w)
		} else {
			bytes += plainBytes(n)
		}
	}
	return cost, bytes
}

// useEF reports whether a table of width bits over n hashes codes its
// positions with Elias-Fano: where that saves a quarter, unless forced.
func useEF(n, width int, force int8) bool {
	switch force {
	case codingPlain:
		return false
	case codingEF:
		return true
	}
	return efBytes(n, width) < 0.75*plainBytes(n)
}

// Forced codings, for tests.
const (
	codingAuto int8 = iota
	codingPlain
	codingEF
)

// tableAllowance is the most table bytes a segment may use beyond its
// budget per hash (and at most as much again as the budget): offset arrays
// cost 4 bytes a bucket whatever the number of hashes, so the best tables
// for a smaller set do not fit a per-hash budget, and at 10 million hashes
// 16 MiB is under 2 bytes a hash.
const tableAllowance = 16 << 20

// planOptions are what choosePlan needs of a Config.
type planOptions struct {
	words, radius int
	budget        float64 // table bytes a hash, beyond tableAllowance
	subs          int     // forced number of substrings; 0: by cost
	coding        int8    // forced position coding (codingAuto: by size)
	layout        int8    // forced layout (layoutAuto: by cost)
	always        bool    // tables even where a scan is estimated cheaper
}

// Forced layouts, for tests.
const (
	layoutAuto int8 = iota
	layoutClassic
	layoutInline
)

// choosePlan returns the cheapest plan for searches at o.radius over n
// hashes whose tables fit in o.budget bytes a hash (plus an allowance),
// in the classic or (64-bit only) inline layout, or no tables at all if a
// scan is estimated cheaper (unless o.always).
func choosePlan(n int, o planOptions) subPlan {
	b := 64 * o.words
	inlineOK := func(widths []int) bool {
		return o.words == 1 && o.layout != layoutClassic && o.coding == codingAuto && slices.Min(widths) >= inlineMinWidth
	}
	if o.subs > 0 {
		p := subPlan{widths: splitWidths(b, o.subs)}
		p.evaluate(n, o.words, o.radius, o.coding)
		p.inline = o.layout == layoutInline && inlineOK(p.widths)
		return p
	}
	limit := o.budget*float64(n) + min(o.budget*float64(n), tableAllowance)
	var best, smallest subPlan
	bestCost, smallestBytes := math.Inf(1), math.Inf(1)
	try := func(p subPlan, cost, bytes float64) {
		if bytes < smallestBytes {
			smallest, smallestBytes = p, bytes
		}
		if bytes <= limit && cost < bestCost {
			best, bestCost = p, cost
		}
	}
	consider := func(widths []int) {
		if o.layout != layoutInline {
			p := subPlan{widths: widths}
			cost, bytes := p.evaluate(n, o.words, o.radius, o.coding)
			try(p, cost, bytes)
		}
		if inlineOK(widths) {
			p := subPlan{widths: widths, inline: true}
			cost, bytes := p.evaluateInline(n, o.radius)
			try(p, cost, bytes)
		}
	}
	for m := 1; m <= min(maxSubs, b); m++ {
		if b/m <= maxWidth {
			consider(splitWidths(b, m))
		}
		for w := 4; w <= maxWidth && w*m < b; w++ {
			widths := make([]int, m)
			for i := range widths {
				widths[i] = w
			}
			consider(widths)
		}
	}
	switch {
	case best.widths == nil && o.always:
		return smallest
	case best.widths == nil, !o.always && bestCost >= 0.8*scanCost(n, o.words):
		return subPlan{}
	}
	return best
}

// evaluateInline is evaluate for the inline layout. Its bytes are counted
// as the classic layout's are, beyond 12 bytes a hash (the hash and a
// 4-byte ref): an inline segment stores no hashes, but a ref and a byRef
// position (8 bytes) besides its tables.
func (p *subPlan) evaluateInline(n, r int) (cost, bytes float64) {
	m := len(p.widths)
	cost = float64(m) * costKey
	for i, w := range p.widths {
		tr := subRadius(r, m, i)
		probe, ent := inlineCosts(n, p.widths, i, r, tr)
		cost += ballSize(w, tr) * (probe + math.Ldexp(float64(n), -w)*ent)
	}
	bytes = -4 * float64(n)
	for j, w := range p.widths {
		bytes += dirBytes(n, w) + inlineValueBytes(n, inlineValueBits(p.widths, j))
	}
	return cost, bytes
}

// splitWidths cuts b bits into m widths as equal as possible, at most
// maxWidth each.
func splitWidths(b, m int) []int {
	w := make([]int, m)
	for i := range w {
		w[i] = min(maxWidth, b/m)
		if i < b%m && b/m < maxWidth {
			w[i]++
		}
	}
	return w
}

// table is one substring's hash table over a segment.
type table struct {
	word  int  // word holding the substring's first bit
	shift uint // bits before it in that word, from the most significant
	width int  // bits in the substring
	ef    bool // positions Elias-Fano coded

	dir bucketDir // bucket b holds positions dir.bound(b) to dir.bound(b+1)-1

	ids []uint32 // plain coding: positions, ascending within a bucket

	// Elias-Fano coding, one bit string (little-endian, 8 bytes of
	// padding) in which bucket b, of c positions, starts at bit
	// S = bound(b)*(lowBits+1) + b*stride, so that a probe reads one run:
	// first the high parts in unary, c+stride bits (the i-th position sets
	// bit S + i + pos>>lowBits), then the c low parts of lowBits bits each.
	efBits  []byte
	lowBits uint
	stride  uint64 // (n-1)>>lowBits + 1: the zeros of each bucket's unary code

	avg                 float64 // expected positions in a probed bucket
	probeCost, candCost float64 // see tableCosts
}

func (t *table) key(h []uint64) uint32 {
	v := h[t.word] << t.shift
	if int(t.shift)+t.width > 64 {
		v |= h[t.word+1] >> (64 - t.shift)
	}
	return uint32(v >> (64 - uint(t.width)))
}

func (t *table) bound(b uint32) uint32 { return t.dir.bound(b) }

// bucketDir holds the bounds of a table's buckets: bucket b is positions
// bound(b) to bound(b+1)-1.
type bucketDir struct {
	// off[b], or if off is nil base[b>>8]+rel[b]: half the bytes, where
	// no 256 buckets hold 65536 positions.
	off  []uint32
	base []uint32
	rel  []uint16
}

// newBucketDir returns the directory of off (2^width+1 bounds), compacted
// where it can be.
func newBucketDir(off []uint32, width int) bucketDir {
	nb := len(off) - 1
	if width < 8 {
		return bucketDir{off: off}
	}
	for b := 256; b <= nb; b += 256 {
		if off[b]-off[b-256] >= 1<<16 {
			return bucketDir{off: off}
		}
	}
	d := bucketDir{base: make([]uint32, nb>>8+1), rel: make([]uint16, nb+1)}
	for b := range off {
		d.base[b>>8] = off[b&^255]
		d.rel[b] = uint16(off[b] - off[b&^255])
	}
	return d
}

func (d *bucketDir) bound(b uint32) uint32 {
	if d.off != nil {
		return d.off[b]
	}
	return d.base[b>>8] + uint32(d.rel[b])
}

// bounds sets los[i], his[i] to the bounds of bucket keys[i], for all i
// together so that their cache misses overlap.
func (d *bucketDir) bounds(keys, los, his []uint32) {
	if off := d.off; off != nil {
		for i, b := range keys {
			los[i], his[i] = off[b], off[b+1]
		}
		return
	}
	base, rel := d.base, d.rel
	for i, b := range keys {
		los[i], his[i] = base[b>>8]+uint32(rel[b]), base[(b+1)>>8]+uint32(rel[b+1])
	}
}

// bucketOf returns the bucket holding position k.
func (d *bucketDir) bucketOf(k uint32) uint32 {
	nb := max(len(d.off), len(d.rel)) - 1
	return uint32(sort.Search(nb, func(b int) bool { return d.bound(uint32(b)+1) > k }))
}

// prefetch prefetches the bounds of buckets keys (see inlineSeg.probe).
// The 32-bit bases of the compact form, 4 bytes every 256 buckets, stay
// in cache, so only the line of each bucket's own entry is asked for.
func (d *bucketDir) prefetch(keys []uint32, sc *mihScratch) {
	addrs := sc.addrs[:0]
	if d.off != nil {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(d.off)))
		for _, b := range keys {
			addrs = append(addrs, base+4*uintptr(b))
		}
	} else {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(d.rel)))
		for _, b := range keys {
			addrs = append(addrs, base+2*uintptr(b))
		}
	}
	prefetch(addrs)
	sc.addrs = addrs
}

// backHuge asks for huge pages for the directory (see backHuge).
func (d *bucketDir) backHuge() {
	backHuge(d.off)
	backHuge(d.base)
	backHuge(d.rel)
}

func (d *bucketDir) bytes() int { return 4*len(d.off) + 4*len(d.base) + 2*len(d.rel) }

// efStart returns the bit where bucket b, starting at position lo,
// starts in efBits.
func (t *table) efStart(b, lo uint32) uint64 {
	return uint64(lo)*uint64(t.lowBits+1) + uint64(b)*t.stride
}

func (t *table) bytes() int {
	return t.dir.bytes() + 4*len(t.ids) + len(t.efBits)
}

// build fills the table from the hashes of s, a counting sort by key.
func (t *table) build(s *segment) {
	n, words := s.n, s.words
	nb := 1 << t.width
	off := make([]uint32, nb+1)
	for i := range n {
		off[t.key(s.hashes[i*words:])+1]++
	}
	var sumsq float64
	for b := 1; b <= nb; b++ {
		c := float64(off[b])
		sumsq += c * c
		off[b] += off[b-1]
	}
	// off[b] is now the start of bucket b; use it as b's cursor, which
	// leaves it at the start of bucket b+1, and shift back after.
	if t.ef {
		t.lowBits = efLowBits(n, t.width)
		t.stride = uint64((max(n, 1)-1)>>t.lowBits + 1)
		t.efBits = make([]byte, (uint64(n)*uint64(t.lowBits+1)+uint64(nb)*t.stride+7)/8+8)
		starts := slices.Clone(off)
		set := func(bit, v uint64) {
			w := t.efBits[bit>>3:]
			binary.LittleEndian.PutUint64(w, binary.LittleEndian.Uint64(w)|v<<(bit&7))
		}
		for i := range n {
			b := t.key(s.hashes[i*words:])
			k := off[b]
			off[b]++
			lo := starts[b]
			start, idx := t.efStart(b, lo), uint64(k-lo)
			set(start+idx+uint64(i>>t.lowBits), 1)
			lows := start + uint64(starts[b+1]-lo) + t.stride
			set(lows+idx*uint64(t.lowBits), uint64(i)&(1<<t.lowBits-1))
		}
	} else {
		t.ids = make([]uint32, n)
		for i := range n {
			b := t.key(s.hashes[i*words:])
			t.ids[off[b]] = uint32(i)
			off[b]++
		}
	}
	copy(off[1:], off[:nb])
	off[0] = 0
	t.dir = newBucketDir(off, t.width)
	t.dir.backHuge()
	backHuge(t.ids)
	backHuge(t.efBits)
	t.probeCost, t.candCost = tableCosts(n, words, t.width, t.ef)
	lambda := math.Ldexp(float64(n), -t.width)
	t.avg = lambda
	if n > 0 {
		t.avg = max(lambda, sumsq/float64(n)-1)
	}
}

// decode appends the positions of bucket b of an Elias-Fano table to buf.
func (t *table) decode(b uint32, buf []uint32) []uint32 {
	lo, hi := t.bound(b), t.bound(b+1)
	c := uint64(hi - lo)
	ef, lb := t.efBits, uint64(t.lowBits)
	start := t.efStart(b, lo)
	lows := start + c + t.stride
	mask := uint64(1)<<lb - 1
	i := uint64(0)
	// Read the unary part 56 bits at a time: an 8-byte load at any bit
	// holds at least 57 bits. Only the first c ones are read, so the low
	// parts after them do no harm.
	for p := start; i < c; p += 56 {
		w := binary.LittleEndian.Uint64(ef[p>>3:]) >> (p & 7) & (1<<56 - 1)
		for ; w != 0 && i < c; i++ {
			high := p + uint64(bits.TrailingZeros64(w)) - start - i
			w &= w - 1
			lowAt := lows + i*lb
			low := binary.LittleEndian.Uint64(ef[lowAt>>3:]) >> (lowAt & 7) & mask
			buf = append(buf, uint32(high<<lb|low))
		}
	}
	return buf
}

// mihScratch is the per-search state of a multi-index search.
type mihScratch struct {
	keys  [maxSubs]uint32 // the query's substring in each table
	rests [maxSubs]uint64 // the rest of the query in each table (inlineSeg)
	own   [maxSubs]uint32 // size of the query's own bucket in each table
	order [maxSubs]int    // tables in probe order
	radii [maxSubs]int    // probe radius by table
	batch []uint32        // keys to probe; its capacity is the batch size
	cands []uint32        // positions in the batch's buckets
	pend  []uint64        // inlineSeg: partials within reach, as hash bits
	near  []uint32        // inlineSeg: positions within reach in one run
	addrs []uintptr       // inlineSeg: addresses to prefetch
	hits  []inlineHit     // inlineSeg: entries found, reported at the end
	split *mihScratch     // inlineSeg: the scratch space of a split search's second goroutine
	touch uint64          // sum of values read ahead, so the reads stay

	los, his [probeBatch]uint32 // bucket bounds of a batch
	first    [256]uint64        // first words of candidate hashes
}

// probeBatch is the number of keys probed together.
const probeBatch = 256

// mihCost estimates the nanoseconds of a multi-index search of s at
// radius r, from each table's mean probed bucket.
func (s *segment) mihCost(r int) float64 {
	m := len(s.tabs)
	cost := float64(m) * costKey
	for i := range s.tabs {
		t := &s.tabs[i]
		probes := ballSize(t.width, subRadius(r, m, i))
		cost += probes * (t.probeCost + t.avg*t.candCost)
	}
	return cost
}

// searchMIH calls fn for every live entry of s within radius of q, probing
// the tables. radius must be at least 0.
func (s *segment) searchMIH(q []uint64, radius int, dead deadSet, sc *mihScratch, fn func(ref uint64, frame uint32, dist int)) {
	m := len(s.tabs)
	for j := range s.tabs {
		t := &s.tabs[j]
		k := t.key(q)
		sc.keys[j] = k
		sc.own[j] = t.bound(k+1) - t.bound(k)
	}
	sc.planProbes(len(s.tabs), m, radius, false, func(j int) int { return s.tabs[j].width })
	for p, j := range sc.order[:m] {
		t := &s.tabs[j]
		tr := sc.radii[j]
		if tr < 0 {
			continue
		}
		probeNeighbours(sc.keys[j], t.width, tr, sc.batch, func(batch []uint32) {
			s.probe(t, batch, q, radius, p, dead, sc, fn)
		})
	}
}

// probeNeighbours calls flush with every key within Hamming distance tr of
// key among keys of width bits, in batches of at most cap(buf) keys: masks
// of weight 0, 1, ..., tr, each weight in Gosper's order. Probing in batches
// lets the caller verify a batch's candidates in one loop, so that the cache
// misses of different buckets and hashes overlap. The last call may have
// an empty batch.
func probeNeighbours(key uint32, width, tr int, buf []uint32, flush func([]uint32)) {
	limit := uint64(1) << width
	batch := buf[:0]
	for wt := 0; wt <= tr; wt++ {
		mask := uint64(1)<<wt - 1
		for mask < limit {
			batch = append(batch, key^uint32(mask))
			if len(batch) == cap(buf) {
				flush(batch)
				batch = batch[:0]
			}
			if mask == 0 {
				break
			}
			c := mask & -mask
			r := mask + c
			mask = (((r ^ mask) >> 2) >> bits.TrailingZeros64(c)) | r
		}
	}
	flush(batch)
}

// probe verifies the entries in the buckets keys of table t, which is
// order[p]. Each step runs over the whole batch before the next, and
// loads whatever the next step will need, so that the cache misses of
// the batch overlap instead of following one another: bucket bounds, then
// the first line of each bucket's positions, then the positions, then the
// hashes (verifyBatch).
func (s *segment) probe(t *table, keys []uint32, q []uint64, radius, p int, dead deadSet, sc *mihScratch, fn func(ref uint64, frame uint32, dist int)) {
	los, his := sc.los[:len(keys)], sc.his[:len(keys)]
	t.dir.bounds(keys, los, his)
	var touch uint64
	if t.ef {
		for i, b := range keys {
			if lo := los[i]; lo != his[i] {
				touch += uint64(t.efBits[t.efStart(b, lo)>>3])
			}
		}
	} else {
		for i := range keys {
			if lo := los[i]; lo != his[i] {
				touch += uint64(t.ids[lo])
			}
		}
	}
	sc.touch += touch
	cands := sc.cands[:0]
	if t.ef {
		for i, b := range keys {
			if los[i] != his[i] {
				cands = t.decode(b, cands)
			}
		}
	} else {
		for i := range keys {
			cands = append(cands, t.ids[los[i]:his[i]]...)
		}
	}
	sc.cands = cands
	for len(cands) > 0 {
		k := min(len(cands), len(sc.first))
		s.verifyBatch(cands[:k], q, radius, p, dead, sc, fn)
		cands = cands[k:]
	}
}

// verifyBatch reports the entries at ids (at most len(sc.first)) within
// radius of q that table order[p] owns. It reads the first word of every
// hash before comparing any, so that the reads overlap.
func (s *segment) verifyBatch(ids []uint32, q []uint64, radius, p int, dead deadSet, sc *mihScratch, fn func(ref uint64, frame uint32, dist int)) {
	h, words := s.hashes, s.words
	first := sc.first[:len(ids)]
	for i, id := range ids {
		first[i] = h[int(id)*words]
	}
	q0 := q[0]
	switch words {
	case 1:
		for i, x := range first {
			if d := bits.OnesCount64(x ^ q0); d <= radius {
				s.report(ids[i], d, p, dead, sc, fn)
			}
		}
	case 4:
		q1, q2, q3 := q[1], q[2], q[3]
		for i, id := range ids {
			x := (*[4]uint64)(h[4*id : 4*id+4])
			d := bits.OnesCount64(first[i]^q0) + bits.OnesCount64(x[1]^q1) +
				bits.OnesCount64(x[2]^q2) + bits.OnesCount64(x[3]^q3)
			if d <= radius {
				s.report(id, d, p, dead, sc, fn)
			}
		}
	default:
		for _, id := range ids {
			if d := distance(s.hash(id), q); d <= radius {
				s.report(id, d, p, dead, sc, fn)
			}
		}
	}
}

// report calls fn for entry id at distance d, found through table
// order[p], unless it is deleted or an earlier table owns it.
func (s *segment) report(id uint32, d, p int, dead deadSet, sc *mihScratch, fn func(ref uint64, frame uint32, dist int)) {
	h := s.hash(id)
	for _, j := range sc.order[:p] {
		if tr := sc.radii[j]; tr >= 0 && bits.OnesCount32(s.tabs[j].key(h)^sc.keys[j]) <= tr {
			return
		}
	}
	if dead.has(id) {
		return
	}
	fn(s.ref(id), s.frame(id), d)
}
