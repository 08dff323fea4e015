// Command gen makes the project's shared test fixtures under testdata/:
// tiny media (PNG and JPEG images, a 2-second H.264 video) drawn from fixed
// seeds, and the hash lists of that media in each partner format that
// mediamatch reads or writes. Run it from the repository root:
//
//	go run ./testdata/gen
//
// It needs ffmpeg with libx264 on PATH (or -ffmpeg). The images are the same
// bytes on every run with the same Go release (image/png and image/jpeg
// are deterministic); the video is the same bytes with the same ffmpeg and
// x264 builds (one thread, bit-exact flags), and may differ in a few bits of
// its frames with others, which moves its vPDQ hashes by a few bits. The
// hashes in the lists are what package fingerprint computes from the files,
// so a change to the hashing shows up as a diff of testdata/lists.
//
// testdata/README.md describes every file.
package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/fingerprint"
)

// The size of the images and of the video's frames: small, but large
// enough for PDQ's 64x64 decimation to see shapes.
const width, height = 192, 144

// created is the time every list gives its records.
const created = "2026-01-01T00:00:00Z"

func main() {
	dir := flag.String("dir", "testdata", "the testdata directory to write into")
	ffmpeg := flag.String("ffmpeg", "ffmpeg", "the ffmpeg binary (with libx264)")
	flag.Parse()
	if err := run(*dir, *ffmpeg); err != nil {
		log.Fatal(err)
	}
}

// file is one media fixture: its name under media/, its bytes and its
// fingerprint.
type file struct {
	name string
	data []byte
	m    mediamatch.Media
}

func run(dir, ffmpeg string) error {
	poster, other := scene(1), scene(2)
	var files []*file
	for _, f := range []struct {
		name string
		make func() ([]byte, error)
	}{
		{"poster.png", func() ([]byte, error) { return encodePNG(poster) }},
		{"poster.jpg", func() ([]byte, error) { return encodeJPEG(poster) }},
		{"poster-flipped.png", func() ([]byte, error) { return encodePNG(mirror(poster)) }},
		{"other.png", func() ([]byte, error) { return encodePNG(other) }},
		{"flat.png", func() ([]byte, error) { return encodePNG(flat()) }},
		{"clip.mp4", func() ([]byte, error) { return video(ffmpeg, poster, other) }},
	} {
		data, err := f.make()
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		files = append(files, &file{name: f.name, data: data})
	}

	h := fingerprint.New(fingerprint.Options{FFmpeg: ffmpeg})
	for _, f := range files {
		m, err := h.Hash(context.Background(), f.data)
		if err != nil {
			return fmt.Errorf("hash %s: %w", f.name, err)
		}
		f.m = m
		if err := write(filepath.Join(dir, "media", f.name), f.data); err != nil {
			return err
		}
	}
	lists, err := makeLists(files)
	if err != nil {
		return err
	}
	for name, data := range lists {
		if err := write(filepath.Join(dir, "lists", name), data); err != nil {
			return err
		}
	}
	return nil
}

func write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// scene draws a picture from seed: a two-colour gradient at an angle with
// forty flat-coloured rectangles and ellipses over it. Every value comes
// from a PCG stream of its own seed, so a scene is the same on every run
// and every platform.
func scene(seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 0x6d656469616d6174)) // "mediamat"
	n := func(k int) int { return int(r.Uint64() % uint64(k)) }
	rgb := func() color.NRGBA { return color.NRGBA{uint8(n(256)), uint8(n(256)), uint8(n(256)), 255} }
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	c0, c1 := rgb(), rgb()
	angle := float64(n(360)) * math.Pi / 180
	dx, dy := math.Cos(angle), math.Sin(angle)
	span := math.Abs(dx)*width + math.Abs(dy)*height
	for y := range height {
		for x := range width {
			t := ((float64(x)-width/2)*dx+(float64(y)-height/2)*dy)/span + 0.5
			img.SetNRGBA(x, y, mix(c0, c1, t))
		}
	}
	for range 40 {
		c := rgb()
		x0, y0 := n(width), n(height)
		w, h := 6+n(width/4), 6+n(height/4)
		ellipse := n(2) == 0
		for y := y0; y < min(y0+h, height); y++ {
			for x := x0; x < min(x0+w, width); x++ {
				if ellipse {
					ex := (float64(x-x0)+0.5)/float64(w)*2 - 1
					ey := (float64(y-y0)+0.5)/float64(h)*2 - 1
					if ex*ex+ey*ey > 1 {
						continue
					}
				}
				img.SetNRGBA(x, y, c)
			}
		}
	}
	return img
}

func mix(a, b color.NRGBA, t float64) color.NRGBA {
	t = min(max(t, 0), 1)
	l := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-t) + float64(y)*t)) }
	return color.NRGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), 255}
}

// mirror returns img mirrored left to right (PDQ's flipy).
func mirror(img *image.NRGBA) *image.NRGBA {
	out := image.NewNRGBA(img.Rect)
	for y := range height {
		for x := range width {
			out.SetNRGBA(x, y, img.NRGBAAt(width-1-x, y))
		}
	}
	return out
}

// flat is a solid grey image: too little information to match.
func flat() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	return img
}

func encodePNG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, img)
	return b.Bytes(), err
}

func encodeJPEG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
	return b.Bytes(), err
}

// video encodes 2 seconds at 10 frames a second: a second of first, then a
// second of second, as H.264 in MP4.
func video(ffmpeg string, first, second image.Image) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "mediamatch-gen-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for i := range 20 {
		img := first
		if i >= 10 {
			img = second
		}
		data, err := encodePNG(img)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(tmp, fmt.Sprintf("f%02d.png", i)), data, 0o644); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(tmp, "clip.mp4")
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-framerate", "10", "-i", filepath.Join(tmp, "f%02d.png"),
		"-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p",
		"-g", "10", "-threads", "1", "-x264-params", "threads=1",
		"-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
		"-movflags", "+faststart", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", ffmpeg, err, msg)
	}
	return os.ReadFile(out)
}

// pdq returns the PDQ signal of f's first keyframe.
func (f *file) pdq() mediamatch.Signal {
	s, _ := f.m.Keyframes[0].Signal(mediamatch.PDQ)
	return s
}

// fileSignal returns f's signal of type t (MD5 or SHA-256) as hex.
func (f *file) fileSignal(t mediamatch.SignalType) string {
	for _, s := range f.m.FileSignals {
		if s.Type == t {
			return s.Hex()
		}
	}
	if t == mediamatch.MD5 {
		sum := md5.Sum(f.data)
		return hex.EncodeToString(sum[:])
	}
	panic("no " + string(t) + " signal")
}

// makeLists returns the hash lists of the media, by file name under
// lists/. The images listed are poster.png and other.png (PDQ) and the
// video clip.mp4 (MD5 of the file, or its keyframes' PDQ in vpdq and
// jsonl).
func makeLists(files []*file) (map[string][]byte, error) {
	by := make(map[string]*file)
	for _, f := range files {
		by[f.name] = f
	}
	poster, other, clip := by["poster.png"], by["other.png"], by["clip.mp4"]
	pdqs := []*file{poster, other}
	lists := make(map[string][]byte)
	var b bytes.Buffer

	// lines: python-threatexchange's local file.
	b.Reset()
	b.WriteString("# mediamatch testdata: the PDQ of poster.png and other.png, the MD5 of clip.mp4\n")
	for _, f := range pdqs {
		fmt.Fprintf(&b, "pdq %s\n", f.pdq().Hex())
	}
	fmt.Fprintf(&b, "video_md5 %s\n", clip.fileSignal(mediamatch.MD5))
	lists["media.lines.txt"] = bytes.Clone(b.Bytes())

	// pdq: the reference hasher's hash,quality,filename.
	b.Reset()
	for _, f := range pdqs {
		if err := mediamatch.WriteHashLine(&b, f.pdq(), f.name); err != nil {
			return nil, err
		}
	}
	lists["media.pdq.csv"] = bytes.Clone(b.Bytes())

	// te-csv: python-threatexchange's dataset CSV.
	b.Reset()
	b.WriteString("signal_type,signal_str,collab,category,tags\n")
	for _, f := range pdqs {
		fmt.Fprintf(&b, "pdq,%s,mediamatch testdata,test,file:%s\n", f.pdq().Hex(), f.name)
	}
	fmt.Fprintf(&b, "video_md5,%s,mediamatch testdata,test,file:%s media_type_video\n", clip.fileSignal(mediamatch.MD5), clip.name)
	lists["media.te-csv.csv"] = bytes.Clone(b.Bytes())

	// te-simple: ThreatExchange's simple CSV of PDQ hashes.
	b.Reset()
	b.WriteString("indicator,indicator_id,first_descriptor_id,added_on,labels\n")
	for i, f := range pdqs {
		fmt.Fprintf(&b, "%s,%d,%d,%s,file:%s\n", f.pdq().Hex(), 1001+i, 2001+i, created, f.name)
	}
	lists["media.te-simple.csv"] = bytes.Clone(b.Bytes())

	// te-updates: threat_updates objects, one a line, with a retraction.
	type owner struct {
		Name string `json:"name"`
	}
	type descriptor struct {
		Owner       owner  `json:"owner"`
		Status      string `json:"status"`
		ShareLevel  string `json:"share_level"`
		Confidence  int    `json:"confidence"`
		ReviewState string `json:"review_status"`
	}
	type update struct {
		ID           string   `json:"id"`
		Indicator    string   `json:"indicator"`
		Type         string   `json:"type"`
		ShouldDelete bool     `json:"should_delete"`
		Tags         []string `json:"tags"`
		CreationTime int64    `json:"creation_time"`
		LastUpdated  int64    `json:"last_updated"`
		Descriptors  struct {
			Data []descriptor `json:"data"`
		} `json:"descriptors"`
	}
	const t0 = 1767225600 // created, in Unix seconds
	desc := descriptor{owner{"mediamatch testdata"}, "MALICIOUS", "AMBER", 100, "REVIEWED_MANUALLY"}
	ups := []update{
		{ID: "3001", Indicator: poster.pdq().Hex(), Type: "HASH_PDQ", Tags: []string{"file:poster.png"}},
		{ID: "3002", Indicator: other.pdq().Hex(), Type: "HASH_PDQ", Tags: []string{"file:other.png"}},
		{ID: "3003", Indicator: clip.fileSignal(mediamatch.MD5), Type: "HASH_VIDEO_MD5", Tags: []string{"file:clip.mp4"}},
		{ID: "3004", Indicator: strings.Repeat("0123456789abcdef", 4), Type: "HASH_PDQ", ShouldDelete: true},
	}
	b.Reset()
	for i := range ups {
		ups[i].CreationTime, ups[i].LastUpdated = t0, t0+int64(i)
		ups[i].Descriptors.Data = []descriptor{desc}
		line, err := json.Marshal(ups[i])
		if err != nil {
			return nil, err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	lists["media.te-updates.jsonl"] = bytes.Clone(b.Bytes())

	// tcap: Tech Against Terrorism's list.
	type tcapResult struct {
		ID        int    `json:"id"`
		Hash      string `json:"hash_digest"`
		Algorithm string `json:"algorithm"`
		Ideology  string `json:"ideology"`
		FileType  string `json:"file_type"`
		Deleted   bool   `json:"deleted"`
		CreatedOn string `json:"created_on"`
		UpdatedOn string `json:"updated_on"`
	}
	tcap := struct {
		Count      int          `json:"count"`
		Checkpoint string       `json:"checkpoint"`
		Results    []tcapResult `json:"results"`
	}{Checkpoint: "1767225600.000000,3", Results: []tcapResult{
		{1, poster.pdq().Hex(), "PDQ", "test", "png", false, created, created},
		{2, other.pdq().Hex(), "PDQ", "test", "png", false, created, created},
		{3, clip.fileSignal(mediamatch.MD5), "MD5", "test", "mp4", false, created, created},
	}}
	tcap.Count = len(tcap.Results)
	data, err := json.MarshalIndent(tcap, "", "  ")
	if err != nil {
		return nil, err
	}
	lists["media.tcap.json"] = append(data, '\n')

	// ncmec: NCMEC's hash-sharing XML.
	type fps struct {
		MD5 string `xml:"md5"`
		PDQ string `xml:"pdq,omitempty"`
	}
	type member struct {
		ID   string `xml:"id,attr"`
		Name string `xml:",chardata"`
	}
	type entry struct {
		Member         member `xml:"member"`
		Timestamp      string `xml:"timestamp"`
		ID             string `xml:"id"`
		Classification string `xml:"classification"`
		Fingerprints   fps    `xml:"fingerprints"`
	}
	type images struct {
		Count        int     `xml:"count,attr"`
		MaxTimestamp string  `xml:"maxTimestamp,attr"`
		Entries      []entry `xml:"image"`
	}
	type videos struct {
		Count        int     `xml:"count,attr"`
		MaxTimestamp string  `xml:"maxTimestamp,attr"`
		Entries      []entry `xml:"video"`
	}
	m := member{"1", "mediamatch testdata"}
	imgs := []entry{
		{m, created, "poster.png", "A1", fps{poster.fileSignal(mediamatch.MD5), poster.pdq().Hex()}},
		{m, created, "other.png", "A1", fps{other.fileSignal(mediamatch.MD5), other.pdq().Hex()}},
	}
	vids := []entry{{m, created, "clip.mp4", "A1", fps{MD5: clip.fileSignal(mediamatch.MD5)}}}
	ncmec := struct {
		XMLName xml.Name `xml:"https://hashsharing.ncmec.org/hashsharing/v2 queryResult"`
		Images  images   `xml:"images"`
		Videos  videos   `xml:"videos"`
	}{Images: images{len(imgs), created, imgs}, Videos: videos{len(vids), created, vids}}
	data, err = xml.MarshalIndent(ncmec, "", "  ")
	if err != nil {
		return nil, err
	}
	lists["media.ncmec.xml"] = []byte(xml.Header + string(data) + "\n")

	// stopncii: StopNCII's hash records.
	type record struct {
		LastMod     int64             `json:"lastModtimestamp"`
		SignalType  string            `json:"signalType"`
		HashValue   string            `json:"hashValue"`
		HashStatus  string            `json:"hashStatus"`
		CaseNumbers map[string]string `json:"caseNumbers"`
	}
	stop := struct {
		Count            int      `json:"count"`
		NextSetTimestamp int64    `json:"nextSetTimestamp"`
		HashRecords      []record `json:"hashRecords"`
	}{NextSetTimestamp: t0 + 3, HashRecords: []record{
		{t0, "ImagePDQ", poster.pdq().Hex(), "Active", map[string]string{}},
		{t0 + 1, "ImagePDQ", other.pdq().Hex(), "Active", map[string]string{}},
		{t0 + 2, "VideoMD5", clip.fileSignal(mediamatch.MD5), "Active", map[string]string{}},
	}}
	stop.Count = len(stop.HashRecords)
	data, err = json.MarshalIndent(stop, "", "  ")
	if err != nil {
		return nil, err
	}
	lists["media.stopncii.json"] = append(data, '\n')

	// vpdq: the video's per-frame file.
	b.Reset()
	if err := mediamatch.WriteVPDQ(&b, clip.m); err != nil {
		return nil, err
	}
	lists["clip.mp4.txt"] = bytes.Clone(b.Bytes())

	// jsonl: mediamatch's own export of poster.png and clip.mp4.
	type jsig struct {
		Type    string `json:"type"`
		Hash    string `json:"hash"`
		Quality int    `json:"quality,omitempty"`
	}
	type jkey struct {
		Index          int    `json:"index"`
		StartNS        int64  `json:"start_ns,omitempty"`
		EndNS          int64  `json:"end_ns,omitempty"`
		LowInformation bool   `json:"low_information,omitempty"`
		Signals        []jsig `json:"signals"`
	}
	type jmedia struct {
		Kind        string `json:"kind"`
		Format      string `json:"format"`
		Size        int64  `json:"size"`
		Width       int    `json:"width,omitempty"`
		Height      int    `json:"height,omitempty"`
		DurationNS  int64  `json:"duration_ns,omitempty"`
		FileSignals []jsig `json:"file_signals"`
		Keyframes   []jkey `json:"keyframes"`
	}
	type jitem struct {
		ID     string            `json:"id"`
		Labels map[string]string `json:"labels"`
		Media  jmedia            `json:"media"`
	}
	b.Reset()
	for _, f := range []*file{poster, clip} {
		jm := jmedia{Kind: f.m.Kind.String(), Format: f.m.Format, Size: f.m.Size, Width: f.m.Width, Height: f.m.Height,
			DurationNS: int64(f.m.Duration)}
		for _, s := range f.m.FileSignals {
			jm.FileSignals = append(jm.FileSignals, jsig{Type: string(s.Type), Hash: s.Hex()})
		}
		for _, k := range f.m.Keyframes {
			jk := jkey{Index: k.Index, StartNS: int64(k.Start), EndNS: int64(k.End), LowInformation: k.LowInformation}
			for _, s := range k.Signals {
				if s.Transform == mediamatch.TransformNone {
					jk.Signals = append(jk.Signals, jsig{Type: string(s.Type), Hash: s.Hex(), Quality: s.Quality})
				}
			}
			jm.Keyframes = append(jm.Keyframes, jk)
		}
		line, err := json.Marshal(jitem{ID: f.name, Labels: map[string]string{"source": "testdata"}, Media: jm})
		if err != nil {
			return nil, err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	lists["media.jsonl"] = bytes.Clone(b.Bytes())
	return lists, nil
}
