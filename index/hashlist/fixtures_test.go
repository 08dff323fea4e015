package hashlist

import (
	"crypto/md5"
	"encoding/hex"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// projectTestdata is the repository's top-level testdata directory.
var projectTestdata = filepath.Join("..", "..", "testdata")

// TestReadProjectLists reads every list of the project's testdata/lists,
// the hashes of testdata/media in each partner format: each is detected as
// its format, has no bad record, and names the same media by the same
// hashes as the others: the PDQ of poster.png and other.png from
// media.pdq.csv, and the MD5 of the files themselves.
func TestReadProjectLists(t *testing.T) {
	lists := filepath.Join(projectTestdata, "lists")
	md5Of := func(name string) string {
		sum := md5.Sum(readFile(t, filepath.Join(projectTestdata, "media", name)))
		return hex.EncodeToString(sum[:])
	}
	ref, _, _ := readAll(t, readFile(t, filepath.Join(lists, "media.pdq.csv")), PDQRef, ReaderOptions{})
	pdqs := make(map[string]string) // PDQ hex -> file
	for _, r := range ref {
		s, _ := r.Item.Media.Keyframes[0].Signal(mediamatch.PDQ)
		pdqs[s.Hex()] = r.Item.Labels["filename"]
	}
	if files := slices.Sorted(maps.Values(pdqs)); !slices.Equal(files, []string{"other.png", "poster.png"}) {
		t.Fatalf("media.pdq.csv lists %v, want poster.png and other.png", pdqs)
	}
	md5s := map[string]string{md5Of("poster.png"): "poster.png", md5Of("other.png"): "other.png", md5Of("clip.mp4"): "clip.mp4"}

	tests := []struct {
		file            string
		format          Format
		puts, deletes   int
		pdq, md5        int // PDQ and MD5 signals among the puts
		videoKeyframes  int // keyframes of the video items
		vpdqFromTheClip bool
	}{
		{file: "media.lines.txt", format: Lines, puts: 3, pdq: 2, md5: 1},
		{file: "media.pdq.csv", format: PDQRef, puts: 2, pdq: 2},
		{file: "media.te-csv.csv", format: TECSV, puts: 3, pdq: 2, md5: 1},
		{file: "media.te-simple.csv", format: TESimple, puts: 2, pdq: 2},
		{file: "media.te-updates.jsonl", format: TEUpdates, puts: 3, deletes: 1, pdq: 2, md5: 1},
		{file: "media.tcap.json", format: TCAP, puts: 3, pdq: 2, md5: 1},
		{file: "media.ncmec.xml", format: NCMEC, puts: 3, pdq: 2, md5: 3},
		{file: "media.stopncii.json", format: StopNCII, puts: 3, pdq: 2, md5: 1},
		{file: "clip.mp4.txt", format: VPDQ, puts: 1, videoKeyframes: 2, vpdqFromTheClip: true},
		{file: "media.jsonl", format: JSONL, puts: 2, pdq: 1, md5: 2, videoKeyframes: 2, vpdqFromTheClip: true},
	}
	seen, covered := make(map[string]bool), make(map[Format]bool)
	for _, tt := range tests {
		seen[tt.file], covered[tt.format] = true, true
		t.Run(tt.file, func(t *testing.T) {
			data := readFile(t, filepath.Join(lists, tt.file))
			if f, err := Detect(data); f != tt.format || err != nil {
				t.Errorf("Detect = %s, %v; want %s", f, err, tt.format)
			}
			recs, errs, _ := readAll(t, data, tt.format, ReaderOptions{})
			if len(errs) > 0 {
				t.Errorf("bad records: %q", errs)
			}
			var puts, deletes, pdq, md5, videoKeyframes int
			for _, r := range recs {
				if r.Delete {
					deletes++
					continue
				}
				puts++
				m := r.Item.Media
				for _, s := range m.FileSignals {
					if s.Type != mediamatch.MD5 {
						continue
					}
					md5++
					if md5s[s.Hex()] == "" {
						t.Errorf("line %d: MD5 %s is of no file of testdata/media", r.Line, s.Hex())
					}
				}
				if m.Kind == mediamatch.KindVideo {
					videoKeyframes += len(m.Keyframes)
					continue
				}
				for _, k := range m.Keyframes {
					if s, ok := k.Signal(mediamatch.PDQ); ok {
						pdq++
						if pdqs[s.Hex()] == "" {
							t.Errorf("line %d: PDQ %s is not in media.pdq.csv", r.Line, s.Hex())
						}
					}
				}
			}
			if puts != tt.puts || deletes != tt.deletes || pdq != tt.pdq || md5 != tt.md5 || videoKeyframes != tt.videoKeyframes {
				t.Errorf("read %d puts, %d deletes, %d image PDQ, %d MD5, %d video keyframes; want %d, %d, %d, %d, %d",
					puts, deletes, pdq, md5, videoKeyframes, tt.puts, tt.deletes, tt.pdq, tt.md5, tt.videoKeyframes)
			}
			if !tt.vpdqFromTheClip {
				return
			}
			// The clip is a second of poster.png and a second of other.png:
			// its keyframes are near their PDQ (H.264 moves a few bits).
			for _, r := range recs {
				if r.Item.Media.Kind != mediamatch.KindVideo {
					continue
				}
				for i, k := range r.Item.Media.Keyframes {
					s, _ := k.Signal(mediamatch.PDQ)
					want := []string{"poster.png", "other.png"}[i]
					best, bestFile := 257, ""
					for h, f := range pdqs {
						b, _ := hex.DecodeString(h)
						if d := mediamatch.Distance(s.Hash, b); d < best {
							best, bestFile = d, f
						}
					}
					if bestFile != want || best > mediamatch.PDQ.DefaultThreshold() {
						t.Errorf("keyframe %d is nearest %s at distance %d; want %s within %d", i, bestFile, best, want, mediamatch.PDQ.DefaultThreshold())
					}
				}
			}
		})
	}
	files, err := filepath.Glob(filepath.Join(lists, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("testdata/lists/%s is not read by this test", filepath.Base(f))
		}
	}
	for _, f := range Formats() {
		if !covered[f] {
			t.Errorf("testdata/lists has no %s list", f)
		}
	}
}
