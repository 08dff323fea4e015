package hamming

import (
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Benchmarks of KeyIndex at the scale of local features: each entry (one
// picture) holds 400 keys, 200 features in 2 tables, each key a table
// number in the top bits and 24 bits sampled from a descriptor, here
// uniform. The number of entries is MEDIAMATCH_KEY_N (default 100,000;
// the scale is 1,000,000), each with a payload of
// MEDIAMATCH_KEY_PAYLOAD bytes (default 7,500, the features kept for
// verification, but at most 512 MiB in all, to stay within the shared
// machine's memory):
//
//	MEDIAMATCH_KEY_N=1000000 go test -run '^$' -bench 'BenchmarkKeyVote' -benchtime 2000x -timeout 30m ./index/hamming/
//	MEDIAMATCH_KEY_N=1000000 go test -run '^$' -bench 'BenchmarkKeyAddBatch' -benchtime 1x -timeout 30m ./index/hamming/
const (
	benchKeysPerEntry = 400
	benchKeyBits      = 24
)

func benchKeyN(b *testing.B) (n, payload int) {
	if testing.Short() {
		b.Skip("large benchmark; not under -short")
	}
	env := func(name string, def int) int {
		s := os.Getenv(name)
		if s == "" {
			return def
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			b.Fatalf("%s=%q, want a non-negative integer", name, s)
		}
		return v
	}
	n = max(1, env("MEDIAMATCH_KEY_N", 100_000))
	payload = min(env("MEDIAMATCH_KEY_PAYLOAD", 7500), (512<<20)/n)
	return n, payload
}

// benchEntryKeys returns entry i's keys, drawn again the same each time,
// so that the benchmark need not keep 400 million of them.
func benchEntryKeys(i int, out []uint32) []uint32 {
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	out = out[:0]
	for k := range benchKeysPerEntry {
		out = append(out, uint32(k&1)<<benchKeyBits|r.Uint32()>>(32-benchKeyBits))
	}
	return out
}

// buildKeyIndex loads n entries in one AddBatch and returns the index with
// the seconds that took (the batch's construction excluded) and the heap
// it holds.
func buildKeyIndex(b *testing.B, n, payload int) (x *KeyIndex, seconds float64, heap uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	var e KeyEntries
	e.Grow(n, n*benchKeysPerEntry, n*payload)
	pay := make([]byte, payload)
	var keys []uint32
	for i := range n {
		keys = benchEntryKeys(i, keys)
		for j := range pay {
			pay[j] = byte(i + j)
		}
		e.Add(uint64(i+1), 0, keys, pay)
	}
	start := time.Now()
	x = NewKeyIndex(KeyConfig{})
	x.AddBatch(&e)
	x.Wait()
	seconds = time.Since(start).Seconds()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if x.View().Len() != n {
		b.Fatalf("Len() = %d after loading %d entries", x.View().Len(), n)
	}
	return x, seconds, after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
}

// postingBytes returns the bytes of v's postings and directories, and
// the number of postings.
func postingBytes(v *KeyView) (bytes, postings int) {
	for _, st := range v.segs {
		bytes += st.seg.post.bytes()
		postings += st.seg.post.len()
	}
	return bytes, postings
}

// benchKeyQuery is a cropped copy of entry i: 60 of its 200 features
// kept (120 keys), and 140 new features (280 keys).
func benchKeyQuery(r *rand.Rand, i int) []uint32 {
	own := benchEntryKeys(i, nil)
	q := make([]uint32, 0, benchKeysPerEntry)
	for _, f := range r.Perm(benchKeysPerEntry / 2)[:60] {
		q = append(q, own[2*f], own[2*f+1])
	}
	for k := len(q); k < benchKeysPerEntry; k++ {
		q = append(q, uint32(k&1)<<benchKeyBits|r.Uint32()>>(32-benchKeyBits))
	}
	return q
}

// BenchmarkKeyVote times one Vote of a cropped picture's 400 keys
// (minVotes 8, no stop-word limit), and in the same process one exact
// 256-bit Searcher search at radius 31 over as many PDQ-like hashes (the
// whole-frame match of today), interleaved so that load from other
// processes weighs on both alike. It reports:
//
//	vote-p50-ns, vote-p99-ns      wall time of one vote
//	pdq-p50-ns, pdq-p99-ns        wall time of one PDQ search
//	vote-vs-pdq-p50, -p99         the ratios
//	vote-p50-cpu-ns, ...          the same in process CPU time, which other
//	                              processes on a shared machine do not inflate
//	found                         fraction of votes that found the cropped entry
//	hits/op                       entries returned per vote
//	bytes/posting                 postings and directories, per posting
//	bytes/entry                   the heap the loaded index holds, per entry (payload included)
//	Bytes/entry                   what KeyView.Bytes says of it
//	payload-bytes                 each entry's payload
//	build-s                       seconds of the AddBatch
func BenchmarkKeyVote(b *testing.B) {
	n, payload := benchKeyN(b)
	x, build, heap := buildKeyIndex(b, n, payload)
	v := x.View()
	pb, np := postingBytes(v)
	b.Logf("%d MiB in huge pages", hugePagesInUse()>>20)
	b.Logf("%d entries, %d postings, %d segments: %.2f bytes/posting, Bytes() %.0f/entry, heap %.0f/entry, built in %.1fs",
		n, np, len(v.segs), float64(pb)/float64(np), float64(v.Bytes())/float64(n), float64(heap)/float64(n), build)

	set := newBenchSet(4, n, true, 256)
	h, _, _ := set.load(b, Config{Words: 4, Radius: 31}, false)
	pq := set.queries(1000, 31)

	r := rand.New(rand.NewPCG(1, 2))
	const nq = 500
	qs := make([][]uint32, nq)
	want := make([]uint64, nq)
	for i := range qs {
		j := r.IntN(n)
		qs[i], want[i] = benchKeyQuery(r, j), uint64(j+1)
	}
	// A sub-benchmark, so that the loading above runs once.
	b.Run("vote", func(b *testing.B) {
		var vote, pdq timing
		hits, found := 0, 0
		b.ResetTimer()
		for i := range b.N {
			k := i % nq
			ok := false
			vote.run(func() {
				v.Vote(qs[k], 8, 0, func(ref uint64, _ uint32, _ int, _ []byte) {
					hits++
					ok = ok || ref == want[k]
				})
			})
			if ok {
				found++
			}
			b.StopTimer()
			hv := h.View()
			pdq.run(func() { hv.Search(pq[i%len(pq)], 31, func(uint64, uint32, int) {}) })
			b.StartTimer()
		}
		b.StopTimer()
		v50, v99 := quantile(vote.wall, 0.5), quantile(vote.wall, 0.99)
		p50, p99 := quantile(pdq.wall, 0.5), quantile(pdq.wall, 0.99)
		b.ReportMetric(float64(v50.Nanoseconds()), "vote-p50-ns")
		b.ReportMetric(float64(v99.Nanoseconds()), "vote-p99-ns")
		b.ReportMetric(float64(p50.Nanoseconds()), "pdq-p50-ns")
		b.ReportMetric(float64(p99.Nanoseconds()), "pdq-p99-ns")
		b.ReportMetric(float64(quantile(vote.cpu, 0.5).Nanoseconds()), "vote-p50-cpu-ns")
		b.ReportMetric(float64(quantile(vote.cpu, 0.99).Nanoseconds()), "vote-p99-cpu-ns")
		b.ReportMetric(float64(quantile(pdq.cpu, 0.99).Nanoseconds()), "pdq-p99-cpu-ns")
		b.ReportMetric(float64(v50)/float64(p50), "vote-vs-pdq-p50")
		b.ReportMetric(float64(v99)/float64(p99), "vote-vs-pdq-p99")
		b.ReportMetric(float64(found)/float64(b.N), "found")
		b.ReportMetric(float64(hits)/float64(b.N), "hits/op")
		b.ReportMetric(float64(pb)/float64(np), "bytes/posting")
		b.ReportMetric(float64(heap)/float64(n), "bytes/entry")
		b.ReportMetric(float64(v.Bytes())/float64(n), "Bytes/entry")
		b.ReportMetric(float64(payload), "payload-bytes")
		b.ReportMetric(build, "build-s")
	})
	runtime.KeepAlive(x)
}

// BenchmarkKeyAddBatch loads the entries in one AddBatch, as at start-up,
// and reports its seconds (build-s, the batch's construction excluded),
// the heap held per entry, and the postings' bytes per posting. Each
// iteration loads everything: run it with -benchtime 1x.
func BenchmarkKeyAddBatch(b *testing.B) {
	n, payload := benchKeyN(b)
	for b.Loop() {
		x, build, heap := buildKeyIndex(b, n, payload)
		pb, np := postingBytes(x.View())
		b.ReportMetric(build, "build-s")
		b.ReportMetric(float64(heap)/float64(n), "bytes/entry")
		b.ReportMetric(float64(x.View().Bytes())/float64(n), "Bytes/entry")
		b.ReportMetric(float64(pb)/float64(np), "bytes/posting")
		b.ReportMetric(float64(payload), "payload-bytes")
	}
}
