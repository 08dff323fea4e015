package cli

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

const (
	hexA = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
	hexB = "5feb5321f01da156898e2bf629a5d3438412cdbd23f48942464526315db33ffd"
)

func TestParseHashList(t *testing.T) {
	good := []struct {
		line, id string
		hex      string
		quality  int
	}{
		{hexA, "pdq-d8f8f0cee0f4a84f", hexA, 100},
		{"pdq " + hexA, "pdq-d8f8f0cee0f4a84f", hexA, 100},
		{"PDQ\t" + strings.ToUpper(hexA), "pdq-d8f8f0cee0f4a84f", hexA, 100},
		{hexA + ",87,bridge.jpg", "bridge.jpg", hexA, 87},
		{hexA + ",100,images/pdq-bridge/aaa-orig.jpg", "aaa-orig.jpg", hexA, 100},
		{hexA + ",100,C:\\lists\\x.png", "x.png", hexA, 100},
		{hexA + ",50,a,b.jpg", "a,b.jpg", hexA, 50},
	}
	for _, tt := range good {
		items, err := parseHashList(strings.NewReader("# a comment\n\n  " + tt.line + "\r\n"))
		if err != nil || len(items) != 1 {
			t.Errorf("parseHashList(%q) = %+v, %v; want one item", tt.line, items, err)
			continue
		}
		it := items[0]
		if it.line != 3 || it.id != tt.id || it.sig.Type != mediamatch.PDQ || it.sig.Hex() != tt.hex || it.sig.Quality != tt.quality {
			t.Errorf("parseHashList(%q) = line %d id %q %s %s quality %d; want line 3 id %q pdq %s quality %d", tt.line,
				it.line, it.id, it.sig.Type, it.sig.Hex(), it.sig.Quality, tt.id, tt.hex, tt.quality)
		}
	}

	bad := []struct{ list, want string }{
		{hexA[:63], "line 1: PDQ hash \"" + hexA[:63] + "\" is 63 characters, want 64 hex digits"},
		{hexA + "0", "is 65 characters"},
		{"zz" + hexA[2:], "line 1: PDQ hash \"zz" + hexA[2:] + "\": want 64 hex digits"},
		{"md5 " + hexA[:32], `line 1: signal type "md5" is not supported here, want pdq`},
		{"tmk " + hexA, `line 1: unknown signal type "tmk", want pdq`},
		{"pdq " + hexA + " extra", "3 words"},
		{hexA + ",34,", "line 1: pdq quality 34, want at least 50"},
		{hexA + ",49,x.jpg", "line 1: pdq quality 49, want at least 50"},
		{hexA + ",100", "line 1: hash line \"" + hexA + ",100\": want hash,quality,path"},
		{hexA + ", 50 ,x.jpg", `quality " 50 ", want an integer 0..100`},
		{hexA + ",high,x.jpg", `quality "high", want an integer 0..100`},
		{hexA + ",101,x.jpg", `quality "101"`},
		{hexA + ",100,my photo.jpg", `item id (the filename's base name): "my photo.jpg" contains ' ' at byte 2, want 1..128 bytes`},
		{hexA + "\n" + hexB + "\npdq " + hexA, `line 3: item id "pdq-d8f8f0cee0f4a84f" repeats line 1`},
		{hexA + ",90,x.jpg\n" + hexB + ",90,dir/x.jpg", `line 2: item id "x.jpg" repeats line 1`},
		{"# only a comment\n", "no hashes in the list"},
		{hexB + "\nmd5 x\n" + hexA[:10], "line 2: signal type \"md5\""},
	}
	for _, tt := range bad {
		items, err := parseHashList(strings.NewReader(tt.list))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseHashList(%q) = %+v, %v; want an error containing %q", tt.list, items, err, tt.want)
		}
	}
	// Every bad line is named, not just the first.
	_, err := parseHashList(strings.NewReader(hexB + "\nmd5 x\n" + hexA[:10] + "\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2:") || !strings.Contains(err.Error(), "line 3:") ||
		!strings.Contains(err.Error(), "nothing added") {
		t.Errorf("two bad lines: %v, want both named and 'nothing added'", err)
	}
}

// TestPDQCommands runs hash --signal, add --hashes, add --vpdq and match
// --dihedral against a real server in process.
func TestPDQCommands(t *testing.T) {
	addr := startServer(t)
	photo := photoPath(t)
	tmp := t.TempDir()
	must := func(args ...string) string { t.Helper(); return mustRun(t, addr, args...) }
	must("bank", "create", "tve")

	// hash --signal: the reference hasher's line format, the same here and
	// on the server.
	line := must("hash", "--signal", "pdq", photo)
	if !regexp.MustCompile(`^[0-9a-f]{64},\d+,` + regexp.QuoteMeta(photo) + "\n$").MatchString(line) {
		t.Errorf("hash --signal pdq = %q, want one hash,quality,path line", line)
	}
	if local := must("hash", "--local", "--signal", "PDQ", photo); local != line {
		t.Errorf("hash --local --signal PDQ = %q, want %q", local, line)
	}
	if out := must("hash", "--signal", "pdq", photo, photo); out != line+line {
		t.Errorf("hash --signal pdq of two files = %q, want %q twice", out, line)
	}

	// add --hashes: a listed hash of quality 34 would never match, so the
	// line is bad, as in an import, and nothing is added.
	list := filepath.Join(tmp, "list.txt")
	if err := os.WriteFile(list, []byte("# partner list\n"+line+"pdq "+hexA+"\n"+hexB+",34,dim.jpg\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := run(t, addr, "add", "--bank", "tve", "--label", "source=partner", "--hashes", list)
	if out.code != 1 || !strings.Contains(out.stderr, "line 4: pdq quality 34, want at least 50") ||
		!strings.Contains(out.stderr, "nothing added") || strings.Contains(out.stdout, "added") {
		t.Errorf("add --hashes with a quality-34 line: exit %d, stdout %q, stderr %q; want exit 1 naming line 4, nothing added",
			out.code, out.stdout, out.stderr)
	}
	if out := run(t, addr, "item", "get", "--bank", "tve", "chelsea.png"); out.code == 0 {
		t.Errorf("item get chelsea.png after the refused list: exit 0, stdout %q; want it not added", out.stdout)
	}

	// add --hashes: the photo's own line, plus a listed hash of quality 50.
	if err := os.WriteFile(list, []byte("# partner list\n"+line+"pdq "+hexA+"\n"+hexB+",50,dim.jpg\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = run(t, addr, "add", "--bank", "tve", "--label", "source=partner", "--hashes", list)
	if out.code != 0 || !strings.Contains(out.stdout, "added tve/chelsea.png") || !strings.Contains(out.stdout, "added tve/pdq-d8f8f0cee0f4a84f") ||
		!strings.Contains(out.stdout, "added 3 items to bank tve from "+list) || out.stderr != "" {
		t.Errorf("add --hashes: exit %d, stdout %q, stderr %q", out.code, out.stdout, out.stderr)
	}
	got := must("--json", "item", "get", "--bank", "tve", "dim.jpg")
	if !strings.Contains(got, `"hash":"`+hexB+`","quality":50`) || !strings.Contains(got, `"source":"partner"`) {
		t.Errorf("item get dim.jpg = %s, want the listed hash with quality 50 and the label", got)
	}
	if out := must("match", photo); !strings.Contains(out, "tve/chelsea.png  pdq distance 0 (threshold 31)") ||
		!strings.Contains(out, "source=partner") {
		t.Errorf("match of the listed photo = %q, want tve/chelsea.png by pdq at 0", out)
	}

	// A list whose second item exists already: nothing is added.
	again := filepath.Join(tmp, "again.txt")
	if err := os.WriteFile(again, []byte(hexB+",90,new.jpg\n"+hexA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = run(t, addr, "add", "--bank", "tve", "--hashes", again)
	if out.code != 1 || !strings.Contains(out.stderr, "line 2 (pdq-d8f8f0cee0f4a84f): already exists") {
		t.Errorf("add --hashes with an existing id: exit %d, stderr %q", out.code, out.stderr)
	}
	if out := run(t, addr, "item", "get", "--bank", "tve", "new.jpg"); out.code != 1 || !strings.Contains(out.stderr, "not found") {
		t.Errorf("item get new.jpg after the refused add: exit %d, stderr %q, want not found", out.code, out.stderr)
	}
	// Standard input.
	cmdIn := filepath.Join(tmp, "stdin.txt")
	if err := os.WriteFile(cmdIn, []byte(hexB+",80,piped.jpg\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withStdin(t, cmdIn, func() {
		if out := must("--json", "add", "--bank", "tve", "--hashes", "-"); !strings.Contains(out, `"file":"-","line":1,"item":{"id":"piped.jpg","bank":"tve"`) {
			t.Errorf("add --json --hashes - = %s", out)
		}
	})

	// add --vpdq reads what hash --format vpdq writes; the video then
	// matches its vPDQ item.
	video := videoPath(t)
	vpdq := must("hash", "--format", "vpdq", video)
	if !regexp.MustCompile(`^(\d+,\d+,[0-9a-f]{64},\d+\.\d{3}\n){5,}$`).MatchString(vpdq) {
		t.Errorf("hash --format vpdq of a video = %q, want frame,quality,pdqhex,timestamp lines", vpdq)
	}
	vfile := filepath.Join(tmp, "chair.mp4.txt")
	if err := os.WriteFile(vfile, []byte(vpdq), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := must("add", "--bank", "tve", "--vpdq", vfile); !strings.Contains(out, "added tve/chair.mp4  video") {
		t.Errorf("add --vpdq = %q, want the video item chair.mp4 (the file name without .txt)", out)
	}
	// A vPDQ file without a frame of quality 50 would never match: refused,
	// as by import --format vpdq.
	dim := filepath.Join(tmp, "dim.mp4.txt")
	if err := os.WriteFile(dim, []byte("0,49,"+hexA+",0.000\n1,10,"+hexB+",1.000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run(t, addr, "add", "--bank", "tve", "--vpdq", dim); out.code != 1 ||
		!strings.Contains(out.stderr, "no frame has a pdq hash of quality at least 50") {
		t.Errorf("add --vpdq of frames under quality 50: exit %d, stdout %q, stderr %q; want exit 1 saying no frame can match",
			out.code, out.stdout, out.stderr)
	}
	if out := must("match", "--bank", "tve", video); !strings.Contains(out, "tve/chair.mp4  pdq distance 0") ||
		!strings.Contains(out, "frames matched: 100% of query, 100% of item") {
		t.Errorf("match of the video against its own vPDQ = %q, want distance 0 and full coverage", out)
	}
	if out := run(t, addr, "hash", "--format", "vpdq", photo); out.code != 1 || !strings.Contains(out.stderr, "want a video") {
		t.Errorf("hash --format vpdq of an image: exit %d, stderr %q, want a failure saying it wants a video", out.code, out.stderr)
	}
	bad := filepath.Join(tmp, "bad.vpdq.txt")
	if err := os.WriteFile(bad, []byte(vpdq+"x,1,2,3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run(t, addr, "add", "--bank", "tve", "--vpdq", bad); out.code != 1 || !strings.Contains(out.stderr, "add --vpdq "+bad+": vPDQ line") {
		t.Errorf("add --vpdq of a bad file: exit %d, stderr %q, want the line named", out.code, out.stderr)
	}

	// A mirrored copy matches by default, with the transform shown; not with --upright.
	mirrored := filepath.Join(tmp, "mirrored.png")
	if err := os.WriteFile(mirrored, mirrorPNG(t, photo), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := must("match", "--upright", "--bank", "tve", mirrored); !strings.Contains(out, "no match") {
		t.Errorf("match --upright of a mirrored copy = %q, want no match", out)
	}
	for _, args := range [][]string{{"match"}, {"match", "--local-hash"}} {
		out := must(append(args, "--bank", "tve", mirrored)...)
		if !strings.Contains(out, "tve/chelsea.png  pdq distance") || !strings.Contains(out, "transform flipy (mirrored left to right)") {
			t.Errorf("%v = %q, want tve/chelsea.png with transform flipy", args, out)
		}
		var obj struct {
			Matches []struct {
				ItemID    string `json:"item_id"`
				Transform string `json:"transform"`
			} `json:"matches"`
		}
		if err := json.Unmarshal([]byte(must(append([]string{"--json"}, append(args, "--bank", "tve", mirrored)...)...)), &obj); err != nil {
			t.Fatal(err)
		}
		if len(obj.Matches) == 0 || obj.Matches[0].Transform != "flipy" {
			t.Errorf("%v --json = %+v, want transform flipy first", args, obj)
		}
	}
	if out := must("match", "--bank", "tve", photo); strings.Contains(out, "transform") {
		t.Errorf("match of the photo as it is = %q, want no transform shown", out)
	}
}

// videoPath returns a shared video, skipping the test without it or ffmpeg.
func videoPath(t *testing.T) string {
	t.Helper()
	p := mmtest.Shared(t, "media", "videos", "tmk", "chair-orig-22-sd-bar.mp4")
	mmtest.FFmpeg(t)
	return p
}

// withStdin runs fn with os.Stdin reading file.
func withStdin(t *testing.T, file string, fn func()) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	fn()
}

// mirrorPNG returns the image in file mirrored left to right, as PNG.
func mirrorPNG(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			out.Set(x, y, img.At(b.Max.X-1-x, b.Min.Y+y))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, out); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
