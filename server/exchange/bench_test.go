package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/index/hashlist"
)

// benchEntries is how many entries the benchmark fetches.
const benchEntries = 100_000

// tePages returns benchEntries threat_updates in pages of size, each
// page's paging.next pointing at base with after=<next page's index>.
func tePages(base string, size int) [][]byte {
	var pages [][]byte
	for start := 0; start < benchEntries; start += size {
		var data []map[string]any
		for i := start; i < min(start+size, benchEntries); i++ {
			data = append(data, map[string]any{"id": strconv.Itoa(i), "indicator": pdqOf(strconv.Itoa(i)), "type": "HASH_PDQ",
				"should_delete": i%50 == 0, "last_updated": 1_700_000_000 + i, "creation_time": 1_700_000_000,
				"tags": []string{"gifct", "media_type_photo"}})
		}
		paging := map[string]any{}
		if start+size < benchEntries {
			paging["next"] = base + "/" + DefaultTEVersion + "/1234/threat_updates?access_token=tok&after=" + strconv.Itoa(len(pages)+1)
		}
		b, err := json.Marshal(map[string]any{"data": data, "paging": paging})
		if err != nil {
			panic(err)
		}
		pages = append(pages, b)
	}
	return pages
}

// parseAll reads body, a list in format f, with hashlist's reader and
// returns its records.
func parseAll(b *testing.B, body []byte, f hashlist.Format) int {
	r, err := hashlist.NewReader(bytes.NewReader(body), f, hashlist.ReaderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkFetchVsParse fetches benchEntries entries from a local
// httptest server, as threat_updates pages of 1000 and as one list file
// (lines), and parses the same bytes from memory with hashlist's reader,
// in the same process. It reports the entries a second of each and their
// ratio, x-parse: the fetch rate over the parse rate (1 would be a fetch
// that costs nothing over parsing). The importer's rate, which the issue
// compares the fetch with, is below the parse rate; this ratio bounds
// that one from below.
func BenchmarkFetchVsParse(b *testing.B) {
	b.Run("threatexchange", func(b *testing.B) {
		var pages [][]byte
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			i, _ := strconv.Atoi(r.URL.Query().Get("after"))
			w.Header().Set("Content-Type", "application/json")
			w.Write(pages[i])
		}))
		defer srv.Close()
		pages = tePages(srv.URL, 1000)
		all := bytes.Join(pages, []byte("\n"))
		f, err := New(Config{Kind: ThreatExchange, BaseURL: srv.URL, PrivacyGroup: "1234"}, Credentials{Token: "tok"}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		compare(b, func() int { return parseAll(b, all, hashlist.TEUpdates) }, func() int { return fetchAll(b, f) }, len(all))
	})
	b.Run("url", func(b *testing.B) {
		var buf bytes.Buffer
		for i := range benchEntries {
			fmt.Fprintf(&buf, "pdq %s\n", pdqOf(strconv.Itoa(i)))
		}
		body := buf.Bytes()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
		defer srv.Close()
		f, err := New(Config{Kind: URL, BaseURL: srv.URL + "/list.txt"}, Credentials{}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		compare(b, func() int { return parseAll(b, body, hashlist.Lines) }, func() int { return fetchAll(b, f) }, len(body))
	})
}

// fetchAll fetches every page from the start and returns the records.
func fetchAll(b *testing.B, f *Fetcher) int {
	n := 0
	cp := Checkpoint("")
	for {
		p, err := f.Next(context.Background(), cp)
		if err != nil {
			b.Fatal(err)
		}
		n += len(p.Records)
		if cp = p.Checkpoint; !p.More {
			return n
		}
	}
}

// compare times parse and fetch alternately, b.N times each, and reports
// both rates and their ratio.
func compare(b *testing.B, parse, fetch func() int, size int) {
	var tp, tf time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if n := parse(); n != benchEntries {
			b.Fatalf("parsed %d records, want %d", n, benchEntries)
		}
		tp += time.Since(start)
		start = time.Now()
		if n := fetch(); n != benchEntries {
			b.Fatalf("fetched %d records, want %d", n, benchEntries)
		}
		tf += time.Since(start)
	}
	parseRate := float64(benchEntries) * float64(b.N) / tp.Seconds()
	fetchRate := float64(benchEntries) * float64(b.N) / tf.Seconds()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(fetchRate, "fetch-entries/s")
	b.ReportMetric(parseRate, "parse-entries/s")
	b.ReportMetric(fetchRate/parseRate, "x-parse")
	b.ReportMetric(float64(size)/(1<<20), "MiB")
}
