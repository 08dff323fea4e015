package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	"github.com/mediamatch/mediamatch/index/hashlist"
)

// The end-to-end tests of partner hash lists: `mediamatch import` and
// `mediamatch export` with the real binary against a real server process.

// sampleDir holds the hash-list samples of package hashlist.
var sampleDir = filepath.Join("..", "..", "index", "hashlist", "testdata")

// samples returns the sample files and their formats (from their names:
// sample.<format>[-pages].<ext>).
func samples(t *testing.T) map[string]hashlist.Format {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(sampleDir, "sample.*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no hash-list samples in %s: %v", sampleDir, err)
	}
	out := map[string]hashlist.Format{}
	for _, f := range files {
		name, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(f), "sample."), ".")
		format, err := hashlist.ParseFormat(strings.TrimSuffix(name, "-pages"))
		if err != nil {
			t.Fatalf("sample %s: %v", f, err)
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		out[abs] = format
	}
	return out
}

// badLines reads a sample with package hashlist and returns its bad
// records ("line N: reason"): what an import must report.
func badLines(t *testing.T, file string, f hashlist.Format) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r, err := hashlist.NewReader(bytes.NewReader(data), f, hashlist.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for {
		_, err := r.Next()
		var le *hashlist.LineError
		switch {
		case errors.Is(err, io.EOF):
			return bad
		case errors.As(err, &le):
			bad = append(bad, le.Error())
		case err != nil:
			t.Fatalf("%s: %v", file, err)
		}
	}
}

// importSummary is `import --json` output.
type importSummary struct {
	Format                                       string
	Detected                                     bool
	Added, Updated, Deleted, Unchanged, Rejected int64
	Errors                                       []string
}

// itemJSON is the part of `item get --json` the tests compare.
type itemJSON struct {
	ID       string            `json:"id"`
	Labels   map[string]string `json:"labels"`
	Disabled bool              `json:"disabled"`
	Media    json.RawMessage   `json:"media"`
	Source   json.RawMessage   `json:"source"`
}

// bankItems returns every item of bank with its signals, by id.
func bankItems(t *testing.T, cli func(io.Reader, ...string) result, bank string) map[string]itemJSON {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(cli(nil, "--json", "item", "list", "--bank", bank).ok(t).stdout), "\n") {
		if line == "" {
			continue
		}
		var it itemJSON
		decodeLine(t, line, &it)
		ids = append(ids, it.ID)
	}
	out := map[string]itemJSON{}
	if len(ids) == 0 {
		return out
	}
	for _, line := range strings.Split(strings.TrimSpace(cli(nil, append([]string{"--json", "item", "get", "--bank", bank}, ids...)...).ok(t).stdout), "\n") {
		var it itemJSON
		decodeLine(t, line, &it)
		out[it.ID] = it
	}
	return out
}

func TestEndToEndLists(t *testing.T) {
	media := mmtest.Shared(t, "media")
	tmp := t.TempDir()
	bin := buildBinary(t, tmp)
	srv := startServer(t, bin, filepath.Join(tmp, "data"))
	cli := func(stdin io.Reader, args ...string) result { return runCLI(t, bin, srv.addr, stdin, args...) }

	// (a) Every sample: bad lines fail the default import naming the
	// first; --skip-invalid imports the rest and counts them; a repeat
	// changes nothing. (c) is the repeat.
	cli(nil, "bank", "create", "all").ok(t)
	files := slices.Sorted(func(yield func(string) bool) {
		for f := range samples(t) {
			if !yield(f) {
				return
			}
		}
	})
	formats := samples(t)
	for i, file := range files {
		format := formats[file]
		bank := fmt.Sprintf("sample-%d", i)
		cli(nil, "bank", "create", bank).ok(t)
		bad := badLines(t, file, format)
		r := cli(nil, "import", "--bank", bank, "--partner", "e2e", file)
		switch {
		case len(bad) > 0 && (r.code != 1 || !strings.Contains(r.stderr, bad[0]) || !strings.Contains(r.stderr, "nothing imported")):
			t.Errorf("%s: %v, want exit 1 naming %q", filepath.Base(file), r, bad[0])
		case len(bad) == 0 && r.code != 0:
			t.Errorf("%s: %v, want success (no bad lines)", filepath.Base(file), r)
		}
		var sum importSummary
		decodeLine(t, cli(nil, "--json", "import", "--bank", bank, "--skip-invalid", "--partner", "e2e", file).ok(t).stdout, &sum)
		if sum.Format != string(format) || !sum.Detected || sum.Rejected != int64(len(bad)) || !slices.Equal(sum.Errors, bad) {
			t.Errorf("%s: import --skip-invalid = %+v, want format %s detected, %d rejected %q", filepath.Base(file), sum, format, len(bad), bad)
		}
		if len(bad) > 0 && sum.Added == 0 {
			t.Errorf("%s: import --skip-invalid = %+v, want items added", filepath.Base(file), sum)
		}
		human := cli(nil, "import", "--bank", bank, "--skip-invalid", "--partner", "e2e", file).ok(t).stdout
		if !strings.HasPrefix(human, "format: "+string(format)+" (detected)\n") ||
			!strings.Contains(human, fmt.Sprintf(", %d rejected\n", len(bad))) {
			t.Errorf("%s: import output:\n%s\nwant the detected format and %d rejected", filepath.Base(file), human, len(bad))
		}
		if sum.Deleted == 0 && !strings.Contains(human, "0 added, 0 updated, 0 deleted, ") {
			t.Errorf("%s: repeated import:\n%s\nwant nothing added, updated or deleted", filepath.Base(file), human)
		}
		if format != hashlist.VPDQ { // one bank of everything but the video, for the export below
			cli(nil, "import", "--bank", "all", "--skip-invalid", "--format", string(format), "--partner", "e2e", file).ok(t)
		}
	}

	// (b) A jsonl export imports into a new bank as the same items.
	want := bankItems(t, cli, "all")
	if len(want) < 10 {
		t.Fatalf("bank all has %d items, want the samples' items", len(want))
	}
	export := filepath.Join(tmp, "all.jsonl")
	cli(nil, "export", "--bank", "all", "-o", export).ok(t)
	cli(nil, "bank", "create", "copy").ok(t)
	var sum importSummary
	decodeLine(t, cli(nil, "--json", "import", "--bank", "copy", export).ok(t).stdout, &sum)
	if sum.Format != "jsonl" || sum.Added != int64(len(want)) {
		t.Errorf("import of the export = %+v, want jsonl and %d added", sum, len(want))
	}
	got := bankItems(t, cli, "copy")
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("copy lacks %s", id)
			continue
		}
		if !equalJSON(g, w) {
			t.Errorf("copy of %s:\n got  %+v\n want %+v", id, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("copy has %d items, want %d", len(got), len(want))
	}
	decodeLine(t, cli(nil, "--json", "import", "--bank", "copy", export).ok(t).stdout, &sum)
	if sum.Unchanged != int64(len(want)) || sum.Added+sum.Updated+sum.Deleted != 0 {
		t.Errorf("re-import of the export = %+v, want all %d unchanged", sum, len(want))
	}

	// Each partner format that can be written carries the PDQ hashes.
	wantPDQ := pdqHashes(t, want, true)
	for _, f := range []string{"lines", "pdq", "te-csv", "te-simple", "te-updates"} {
		list := filepath.Join(tmp, "all."+f)
		cli(nil, "export", "--bank", "all", "--format", f, "-o", list).ok(t)
		bank := "from-" + f
		cli(nil, "bank", "create", bank).ok(t)
		decodeLine(t, cli(nil, "--json", "import", "--bank", bank, "--format", f, list).ok(t).stdout, &sum)
		if sum.Rejected != 0 || sum.Added == 0 {
			t.Errorf("import of the %s export = %+v, want items and nothing rejected", f, sum)
		}
		// Every image's PDQ hash gets through (a video's may too, as an item
		// of its own in formats that do not say what a hash is of).
		gotPDQ := pdqHashes(t, bankItems(t, cli, bank), f == "te-simple" || f == "te-updates")
		for _, h := range wantPDQ {
			if _, ok := slices.BinarySearch(gotPDQ, h); !ok {
				t.Errorf("PDQ hash %s of bank all did not get through %s: %v", h, f, gotPDQ)
			}
		}
	}
	// vpdq: a bank of one video, through its per-frame file.
	for file, format := range formats {
		if format != hashlist.VPDQ {
			continue
		}
		cli(nil, "bank", "create", "video").ok(t)
		cli(nil, "import", "--bank", "video", "--id", "clip", file).ok(t)
		list := filepath.Join(tmp, "clip.vpdq.txt")
		cli(nil, "export", "--bank", "video", "--format", "vpdq", "-o", list).ok(t)
		cli(nil, "bank", "create", "video-copy").ok(t)
		cli(nil, "import", "--bank", "video-copy", "--id", "clip", list).ok(t)
		a, b := bankItems(t, cli, "video")["clip"], bankItems(t, cli, "video-copy")["clip"]
		if !bytes.Equal(a.Media, b.Media) {
			t.Errorf("video through vpdq:\n got  %s\n want %s", b.Media, a.Media)
		}
	}

	// (d) A match of an imported PDQ item names its source.
	photo := filepath.Join(media, photoRel)
	pdqLine := cli(nil, "hash", "--signal", "pdq", photo).ok(t).stdout
	cli(nil, "bank", "create", "partner").ok(t)
	decodeLine(t, cli(bytes.NewReader([]byte(pdqLine)), "--json", "import", "--bank", "partner", "--partner", "Partner A", "-").ok(t).stdout, &sum)
	if sum.Format != "pdq" || sum.Added != 1 {
		t.Errorf("import of the photo's hash line = %+v, want 1 added from pdq", sum)
	}
	var m struct {
		Matches []struct {
			ItemID string `json:"item_id"`
			Source struct {
				Format, Partner string
				FirstSeen       time.Time `json:"first_seen"`
			}
		}
	}
	decodeLine(t, cli(nil, "--json", "match", photo).ok(t).stdout, &m)
	found := false
	for _, x := range m.Matches {
		if strings.HasPrefix(x.ItemID, "pdq-") {
			found = true
			if x.Source.Format != "pdq" || x.Source.Partner != "Partner A" || x.Source.FirstSeen.IsZero() {
				t.Errorf("match of the imported item: source %+v, want pdq from Partner A with a first-seen time", x.Source)
			}
		}
	}
	if !found {
		t.Errorf("match of the photo = %+v, want the imported item", m)
	}
	if human := cli(nil, "match", photo).ok(t).stdout; !strings.Contains(human, "source pdq from Partner A") {
		t.Errorf("match output:\n%s\nwant the source", human)
	}
	srv.stop(t)
}

// equalJSON compares two items' JSON forms, ignoring the source's times
// where one side lacks them.
func equalJSON(a, b itemJSON) bool {
	return a.ID == b.ID && a.Disabled == b.Disabled && fmt.Sprint(a.Labels) == fmt.Sprint(b.Labels) &&
		bytes.Equal(a.Media, b.Media) && bytes.Equal(a.Source, b.Source)
}

// pdqHashes returns the sorted PDQ hashes (quality 50 and up) of the
// items, only of images when imagesOnly.
func pdqHashes(t *testing.T, items map[string]itemJSON, imagesOnly bool) []string {
	t.Helper()
	var out []string
	for _, it := range items {
		var m struct {
			Kind      string
			Keyframes []struct {
				LowInformation bool `json:"low_information"`
				Signals        []struct {
					Type, Hash string
					Quality    int
				}
			}
		}
		if err := json.Unmarshal(it.Media, &m); err != nil {
			t.Fatal(err)
		}
		if imagesOnly && m.Kind != "image" {
			continue
		}
		for _, k := range m.Keyframes {
			for _, s := range k.Signals {
				if s.Type == "pdq" && s.Quality >= 50 && !k.LowInformation {
					out = append(out, s.Hash)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// crashList is a version of the crash test's bank: item id -> label "v"
// and PDQ hash.
type crashList map[string][2]string

// write writes the list as jsonl, with delete records for the ids in del.
func (l crashList) write(t *testing.T, file string, del []string) {
	t.Helper()
	var b bytes.Buffer
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range l {
			if !yield(id) {
				return
			}
		}
	}) {
		v := l[id]
		fmt.Fprintf(&b, `{"id":%q,"labels":{"v":%q},"media":{"kind":"image","keyframes":[{"index":0,"signals":[{"type":"pdq","hash":%q,"quality":90}]}]}}`+"\n",
			id, v[0], v[1])
	}
	for _, id := range del {
		fmt.Fprintf(&b, `{"id":%q,"delete":true}`+"\n", id)
	}
	writeFile(t, file, b.Bytes())
}

// TestEndToEndImportCrash kills the server with SIGKILL at points of an
// import chosen to land on both sides of its commit, at least 20 times, and
// checks after each restart that the bank holds exactly the list before the
// import (A) or exactly the list it imports (B), never a mix; then that the
// import, repeated, gives B. It fails unless kills landed before and after
// the commit and a restart finished an interrupted import.
//
// The lists have MEDIAMATCH_CRASH_LINES items (default 20000, to fit CI;
// the full-size run is 200000: MEDIAMATCH_CRASH_LINES=200000 go test
// -run ImportCrash -v -timeout 60m ./cmd/mediamatch/). B deletes a tenth
// of A's items, relabels a tenth, adds a tenth and keeps the rest. A round
// is reset to A by importing A with deletes of B's new items.
func TestEndToEndImportCrash(t *testing.T) {
	lines := 20000
	if s := os.Getenv("MEDIAMATCH_CRASH_LINES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			t.Fatalf("MEDIAMATCH_CRASH_LINES=%q, want a number of at least 10", s)
		}
		lines = n
	}
	tmp := t.TempDir()
	bin := buildBinary(t, tmp)
	data := filepath.Join(tmp, "data")
	srv := startServer(t, bin, data)
	defer func() { srv.stop(t) }()
	cli := func(stdin io.Reader, args ...string) result { return runCLI(t, bin, srv.addr, stdin, args...) }

	// The lists.
	a, b := crashList{}, crashList{}
	var bOnly, deleted []string
	for i := range lines {
		h := make([]byte, 32)
		rand.Read(h)
		id := fmt.Sprintf("c-%07d", i)
		a[id] = [2]string{"a", hex.EncodeToString(h)}
		switch i % 10 {
		case 0:
			deleted = append(deleted, id)
		case 1:
			b[id] = [2]string{"b", a[id][1]}
		case 2:
			b[id] = a[id]
			rand.Read(h)
			nid := fmt.Sprintf("n-%07d", i)
			b[nid] = [2]string{"new", hex.EncodeToString(h)}
			bOnly = append(bOnly, nid)
		default:
			b[id] = a[id]
		}
	}
	fileA, fileB, fileReset := filepath.Join(tmp, "a.jsonl"), filepath.Join(tmp, "b.jsonl"), filepath.Join(tmp, "reset.jsonl")
	a.write(t, fileA, nil)
	b.write(t, fileB, deleted)
	a.write(t, fileReset, bOnly)

	// content returns the bank as a crashList, from its jsonl export.
	content := func() crashList {
		t.Helper()
		return bankList(t, func(args ...string) result { return cli(nil, args...) }, "crash")
	}
	importFile := func(file string) (importSummary, time.Duration) {
		t.Helper()
		start := time.Now()
		var sum importSummary
		decodeLine(t, cli(nil, "--json", "import", "--bank", "crash", file).ok(t).stdout, &sum)
		return sum, time.Since(start)
	}

	cli(nil, "bank", "create", "crash").ok(t)
	sum, dA := importFile(fileA)
	if sum.Added != int64(lines) {
		t.Fatalf("import of A = %+v, want %d added", sum, lines)
	}
	sum, dB := importFile(fileB)
	if want := int64(len(deleted)); sum.Deleted != want || sum.Added != int64(len(bOnly)) {
		t.Fatalf("import of B = %+v, want %d deleted, %d added", sum, want, len(bOnly))
	}
	if !maps.Equal(content(), b) {
		t.Fatal("after importing B the bank is not B")
	}
	_, dReset := importFile(fileReset)
	if !maps.Equal(content(), a) {
		t.Fatal("after the reset the bank is not A")
	}
	t.Logf("%d lines: import A %v, B %v, reset %v", lines, dA.Round(time.Millisecond), dB.Round(time.Millisecond), dReset.Round(time.Millisecond))

	// Each round kills the server at a point of an import of B. A kill
	// lands before the commit (the bank is A after the restart) or after
	// it (B, although the import was not reported done: the restart's
	// recovery finished it, or it was applied just before the kill); a
	// kill after the import was reported done counts apart. The kill point
	// is chosen adaptively, uniformly between lo, the latest delay seen to
	// land before the commit, and hi, the earliest seen after it (until a
	// kill has landed after it, twice the latest before it: the import's
	// duration measured above is only a first guess), so that the kills
	// close in on the commit point from both sides; the rounds go on past
	// minRounds (up to maxRounds) until kills have landed on both sides and
	// one restart has finished an interrupted import.
	const minRounds, maxRounds = 20, 80
	lo, hi, seenAfter := time.Duration(0), dB, false
	var before, after, recovered, finished, rounds int
	start := time.Now()
	for round := 0; round < maxRounds && (round < minRounds || before == 0 || after == 0 || recovered == 0); round++ {
		rounds++
		delay := lo + time.Duration(mrand.Int64N(int64(hi-lo)+1))
		imp := exec.Command(bin, "import", "--bank", "crash", fileB)
		imp.Env = append(os.Environ(), "MEDIAMATCH_SERVER="+srv.addr)
		var stderr bytes.Buffer
		imp.Stderr = &stderr
		if err := imp.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay) // the kill point, not a synchronisation: every outcome is checked
		srv.kill(t)
		err := imp.Wait()
		srv = startServer(t, bin, data)
		got := content()
		side := ""
		switch {
		case maps.Equal(got, a):
			side = "before the commit: A"
			before++
			lo = max(lo, delay)
			if !seenAfter {
				hi = max(hi, 2*lo)
			}
			if err == nil {
				t.Errorf("round %d: the import succeeded, but after the crash the bank is A", round)
			}
		case maps.Equal(got, b) && err == nil:
			side = "after the import was done: B"
			finished++
			hi = min(hi, delay)
			if !seenAfter {
				hi, seenAfter = delay, true
			}
		case maps.Equal(got, b):
			side = "after the commit: B"
			after++
			hi = min(hi, delay)
			if !seenAfter {
				hi, seenAfter = delay, true
			}
		default:
			t.Fatalf("round %d: killed after %v: the bank (%d items) is neither A (%d) nor B (%d)",
				round, delay, len(got), len(a), len(b))
		}
		if lo > hi { // timing noise: a later kill landed before the commit
			lo, hi = hi, lo
		}
		logs := srv.logs.String()
		if strings.Contains(logs, "interrupted import finished") {
			recovered++
			side += ", recovered at the restart"
			if side[:6] != "after " {
				t.Errorf("round %d: the restart finished an import, but the bank is A", round)
			}
		}
		t.Logf("round %d: killed after %v: %s (import: %v %s)", round, delay.Round(time.Millisecond),
			side, err, strings.TrimSpace(stderr.String()))

		// Repeated, the import completes, whatever the crash left.
		importFile(fileB)
		if !maps.Equal(content(), b) {
			t.Fatalf("round %d: after repeating the import the bank is not B", round)
		}
		importFile(fileReset)
		if !maps.Equal(content(), a) {
			t.Fatalf("round %d: after the reset the bank is not A", round)
		}
	}
	t.Logf("%d lines, %d rounds in %v: %d kills before the commit, %d after it (%d finished by the restart), %d after the import was done",
		lines, rounds, time.Since(start).Round(time.Second), before, after, recovered, finished)
	if before == 0 || after == 0 || recovered == 0 {
		t.Errorf("in %d rounds, %d kills landed before the commit and %d after it, %d finished by the restart: want each at least once",
			rounds, before, after, recovered)
	}
}
