package main

import (
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// TestEndToEndPDQ is the partner-list path end to end, on the real binary
// and a real server process: PDQ hashes from Meta's C++ reference hasher
// (../shared/pdq-reference/reference.csv, the reference's output for the
// shared photos) are written as a partner list and added with
// `mediamatch add --hashes`; re-encoded copies of those photos made here
// (JPEG quality 50, half size) then match them through `mediamatch match
// --signal pdq`, and an unrelated photo matches nothing. A video is added
// from the reference's vPDQ file with `add --vpdq` and a shared video of
// the same clip matches it, with coverage.
func TestEndToEndPDQ(t *testing.T) {
	media := mmtest.Shared(t, "media")
	ffmpeg := mmtest.FFmpeg(t)
	refDir := filepath.Join(filepath.Dir(media), "pdq-reference")
	ref := readReference(t, filepath.Join(refDir, "reference.csv"))
	tmp := t.TempDir()
	bin := buildBinary(t, tmp)

	// The list: the reference hasher's hash,quality,filename lines, one
	// photo as "pdq <hex>" and one as a bare hash, with a comment.
	listed := []string{
		"images/skimage/chelsea.png",
		"images/skimage/astronaut.png",
		"images/pdq-bridge/aaa-orig.jpg",
		"images/skimage/coffee.png", // "pdq <hex>"
		"images/skimage/rocket.jpg", // bare hex
	}
	const unrelatedPhoto = "images/skimage/camera.png"
	var list strings.Builder
	list.WriteString("# partner list: PDQ hashes from the C++ reference hasher\n")
	wantID := map[string]string{}
	for i, rel := range listed {
		r, ok := ref[rel]
		if !ok {
			t.Fatalf("reference.csv has no line for %s", rel)
		}
		switch i {
		case 3:
			fmt.Fprintf(&list, "pdq %s\n", r.hex)
			wantID[rel] = "pdq-" + r.hex[:16]
		case 4:
			fmt.Fprintf(&list, "%s\n", strings.ToUpper(r.hex)) // partners' case varies
			wantID[rel] = "pdq-" + r.hex[:16]
		default:
			fmt.Fprintf(&list, "%s,%d,%s\n", r.hex, r.quality, filepath.Base(rel))
			wantID[rel] = filepath.Base(rel)
		}
		// The unrelated photo must be far from every listed one, or the
		// test would prove nothing.
		if d := hexDistance(t, r.hex, ref[unrelatedPhoto].hex); d <= 31+20 {
			t.Fatalf("precondition: reference distance %s to %s is %d, want > 51", rel, unrelatedPhoto, d)
		}
	}
	listFile := filepath.Join(tmp, "partner-pdq.txt")
	writeFile(t, listFile, []byte(list.String()))
	t.Logf("hash list:\n%s", list.String())

	srv := startServer(t, bin, filepath.Join(tmp, "data"))
	cli := func(args ...string) result { return runCLI(t, bin, srv.addr, nil, args...) }
	cli("bank", "create", "partner").ok(t)

	// A bad list adds nothing and names the line.
	bad := filepath.Join(tmp, "bad.txt")
	writeFile(t, bad, []byte(list.String()+"md5 0123456789abcdef0123456789abcdef\n"+ref[listed[0]].hex[:63]+"\n"))
	if r := cli("add", "--bank", "partner", "--hashes", bad); r.code == 0 ||
		!strings.Contains(r.stderr, "line 7: signal type \"md5\"") || !strings.Contains(r.stderr, "line 8: PDQ hash") ||
		!strings.Contains(r.stderr, "nothing added") {
		t.Errorf("add --hashes with bad lines: %v, want a failure naming lines 7 and 8", r)
	}
	if out := cli("item", "list", "--bank", "partner").ok(t).stdout; strings.Contains(out, "partner/") {
		t.Errorf("item list after a bad list:\n%s\nwant no items", out)
	}

	added := cli("add", "--bank", "partner", "--label", "source=pdq-reference", "--hashes", listFile).ok(t)
	t.Logf("add --hashes:\n%s", added.stdout)
	if !strings.Contains(added.stdout, fmt.Sprintf("added %d items to bank partner", len(listed))) {
		t.Errorf("add --hashes output:\n%s\nwant %d items added", added.stdout, len(listed))
	}

	// The hasher's own line for a listed photo is in the reference format.
	hashOut := cli("hash", "--signal", "pdq", filepath.Join(media, listed[0])).ok(t).stdout
	if !regexp.MustCompile(`^[0-9a-f]{64},\d{1,3},` + regexp.QuoteMeta(filepath.Join(media, listed[0])) + "\n$").MatchString(hashOut) {
		t.Errorf("hash --signal pdq = %q, want one hash,quality,path line", hashOut)
	}
	t.Logf("hash --signal pdq: %s; reference: %s,%d (distance %d)", strings.TrimSpace(hashOut), ref[listed[0]].hex,
		ref[listed[0]].quality, hexDistance(t, hashOut[:64], ref[listed[0]].hex))

	// Re-encoded copies made here.
	var files []string
	wantMatch := map[string]string{}
	for _, rel := range listed {
		img := decodeFile(t, filepath.Join(media, rel))
		base := strings.TrimSuffix(filepath.Base(rel), filepath.Ext(rel))
		q50 := filepath.Join(tmp, base+"-q50.jpg")
		writeFile(t, q50, encodeJPEG(t, img, 50))
		half := filepath.Join(tmp, base+"-half.jpg")
		writeFile(t, half, encodeJPEG(t, halve(img), 90))
		files = append(files, q50, half)
		wantMatch[q50], wantMatch[half] = wantID[rel], wantID[rel]
	}
	unrelated := filepath.Join(media, unrelatedPhoto)
	files = append(files, unrelated)

	out := cli(append([]string{"--json", "match", "--signal", "pdq"}, files...)...).ok(t).stdout
	got := parseMatches(t, out)
	var dists []int
	for _, f := range files {
		ms := got[f]
		want := wantMatch[f]
		switch {
		case want == "" && len(ms) != 0:
			t.Errorf("match %s = %+v, want nothing", filepath.Base(f), ms)
		case want != "" && (len(ms) == 0 || ms[0].ItemID != want || ms[0].Bank != "partner"):
			t.Errorf("match %s = %+v, want partner/%s first", filepath.Base(f), ms, want)
		case want != "":
			m := ms[0]
			if m.Signal != "pdq" || m.Threshold != 31 || m.Labels["source"] != "pdq-reference" || len(ms) != 1 {
				t.Errorf("match %s = %+v, want one pdq match, threshold 31, label source=pdq-reference", filepath.Base(f), ms)
			}
			dists = append(dists, m.Distance)
			t.Logf("%s matches partner/%s at PDQ distance %d", filepath.Base(f), m.ItemID, m.Distance)
		}
	}
	t.Logf("PDQ distances, re-encoded copies vs the C++ reference hashes: %v", dists)

	// Human output of the same, default signals (PDQ and exact).
	human := cli("match", files[0], unrelated).ok(t).stdout
	if !strings.Contains(human, "partner/"+wantID[listed[0]]+"  pdq distance ") || !strings.Contains(human, "no match") {
		t.Errorf("match:\n%s\nwant a pdq match and a 'no match' line", human)
	}

	// A video from the reference's vPDQ file, matched by a shared video of
	// the same clip (colour original vs the grey-bar version hashed by vPDQ).
	vpdqFile := filepath.Join(refDir, "vpdq", "tmk", "chair-22-sd-grey-bar.mp4.txt")
	if _, err := os.Stat(vpdqFile); err != nil {
		t.Fatalf("vPDQ reference missing: %v", err)
	}
	cli("add", "--bank", "partner", "--id", "chair-grey", "--label", "source=vpdq-reference", "--vpdq", vpdqFile).ok(t)
	video := filepath.Join(media, "videos", "tmk", "chair-orig-22-sd-bar.mp4")
	other := filepath.Join(media, "videos", "tmk", "doorknob-hd-no-bar.mp4")
	vout := cli("--json", "match", "--ffmpeg", ffmpeg, "--local-hash", video, other).ok(t).stdout
	vgot := parseMatches(t, vout)
	if ms := vgot[video]; len(ms) == 0 || ms[0].ItemID != "chair-grey" || ms[0].Signal != "pdq" || ms[0].ItemKind != "video" ||
		ms[0].QueryCoverage < 0.5 || ms[0].ItemCoverage < 0.5 || len(ms[0].QueryRanges) == 0 {
		t.Errorf("match of the chair video = %+v, want partner/chair-grey by pdq, a video, coverage >= 0.5 both ways", ms)
	} else {
		t.Logf("chair video matches partner/chair-grey: best PDQ distance %d, query coverage %.2f, item coverage %.2f, %d frame pairs",
			ms[0].Distance, ms[0].QueryCoverage, ms[0].ItemCoverage, len(ms[0].Frames))
	}
	if ms := vgot[other]; len(ms) != 0 {
		t.Errorf("match of an unrelated video = %+v, want nothing", ms)
	}
	human = cli("match", video).ok(t).stdout
	if !strings.Contains(human, "partner/chair-grey") || !strings.Contains(human, "frames matched:") {
		t.Errorf("match of the chair video:\n%s\nwant partner/chair-grey with frames matched", human)
	}
	t.Logf("match:\n%s", human)
	srv.stop(t)
}

type refHash struct {
	hex     string
	quality int
}

// readReference reads reference.csv (path,pdq_hex,quality), skipping the
// test if it is absent.
func readReference(t *testing.T, path string) map[string]refHash {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		mmtest.Missing(t, "PDQ reference: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]refHash{}
	for _, row := range rows[1:] {
		var q int
		if _, err := fmt.Sscan(row[2], &q); err != nil {
			t.Fatalf("reference.csv: quality %q: %v", row[2], err)
		}
		out[row[0]] = refHash{hex: row[1], quality: q}
	}
	return out
}

func hexDistance(t *testing.T, a, b string) int {
	t.Helper()
	x, err := hex.DecodeString(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := hex.DecodeString(b)
	if err != nil || len(x) != len(y) {
		t.Fatalf("hexDistance(%q, %q): %v", a, b, err)
	}
	d := 0
	for i := range x {
		d += bits.OnesCount8(x[i] ^ y[i])
	}
	return d
}
