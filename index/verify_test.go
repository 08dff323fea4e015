package index

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	_ "golang.org/x/image/bmp"
	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index/hamming"
)

// sharedOriginal is one original of the shared set.
type sharedOriginal struct {
	name       string // path under media/images
	data       []byte
	distractor bool   // never banked by the evaluation: blank, or the second of a hard-negative pair
	group      string // its group in GROUPS.tsv, "" if none
	relation   string // the group's relation (positive, negative, hard-negative, distractor)
}

// sharedOriginals returns the shared originals as the evaluation chooses
// them (cmd/mediamatch/internal/eval ReadOriginals, README "Evaluation",
// which this package cannot import): every image under media/images but
// orientation_*, out_example and images4/[0-9]*; of a positive group of
// GROUPS.tsv only its first member; members of other groups but the
// first of a hard-negative one are distractors.
func sharedOriginals(t *testing.T) []sharedOriginal {
	dir := mmtest.Shared(t, "media")
	skip, distractor := make(map[string]bool), make(map[string]bool)
	group, relation := make(map[string]string), make(map[string]string)
	f, err := os.Open(filepath.Join(dir, "GROUPS.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Split(sc.Text(), "\t")
		if line == 1 || len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		var members []string
		prev := ""
		for _, w := range strings.Fields(fields[2]) {
			w = strings.TrimRight(w, ";,")
			if w == "" || strings.HasSuffix(w, ":") {
				continue
			}
			if !strings.Contains(w, "/") {
				w = prev + "/" + w
			}
			prev = filepath.Dir(w)
			for _, pat := range expandBraces(w) {
				ms, _ := filepath.Glob(filepath.Join(dir, pat))
				for _, m := range ms {
					if !slices.Contains(members, m) {
						members = append(members, m)
					}
				}
			}
		}
		for k, m := range members {
			group[m], relation[m] = fields[0], fields[1]
			switch {
			case fields[1] == "positive" && k > 0:
				skip[m] = true
			case fields[1] == "hard-negative" && k > 0, fields[1] != "positive" && fields[1] != "hard-negative":
				distractor[m] = true
			}
		}
	}
	exclude := regexp.MustCompile(`orientation_|out_example|images4/[0-9]`)
	exts := []string{".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
	var out []sharedOriginal
	root := filepath.Join(dir, "images")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !slices.Contains(exts, strings.ToLower(filepath.Ext(p))) {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if skip[p] || exclude.MatchString(filepath.ToSlash(rel)) {
			return nil
		}
		data, err := os.ReadFile(p)
		out = append(out, sharedOriginal{name: filepath.ToSlash(rel), data: data, distractor: distractor[p], group: group[p], relation: relation[p]})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// expandBraces expands the {a,b,...} alternatives of a glob.
func expandBraces(s string) []string {
	i, j := strings.Index(s, "{"), strings.Index(s, "}")
	if i < 0 || j < i {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(s[i+1:j], ",") {
		out = append(out, expandBraces(s[:i]+alt+s[j+1:])...)
	}
	return out
}

// The edits below do what the evaluation's edits of the same names do
// (cmd/mediamatch/internal/eval/edits.go), drawing the same random
// choices from the same stream, so that the crops are the evaluation's.

// editSeed is the second word of the random stream of one edit of one
// original, as the evaluation draws it.
func editSeed(edit, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(edit))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return h.Sum64()
}

func toRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	m := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(m, m.Rect, img, b.Min, draw.Src)
	return m
}

func resizeRGBA(m *image.RGBA, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, max(1, w), max(1, h)))
	xdraw.CatmullRom.Scale(dst, dst.Rect, m, m.Rect, draw.Src, nil)
	return dst
}

func cropEdit(m *image.RGBA, keep float64, r *rand.Rand) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := max(1, int(math.Round(float64(w)*keep))), max(1, int(math.Round(float64(h)*keep)))
	x0, y0 := r.IntN(w-cw+1), r.IntN(h-ch+1)
	dst := image.NewRGBA(image.Rect(0, 0, cw, ch))
	draw.Draw(dst, dst.Rect, m, image.Pt(x0, y0), draw.Src)
	return dst
}

// padEdit centres m in the smallest aw:ah frame that holds it, with black
// bars, or with the picture enlarged to cover the frame and blurred.
func padEdit(m *image.RGBA, aw, ah int, blurred bool) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	fw, fh := w, h
	if w*ah < h*aw {
		fw = (h*aw + ah - 1) / ah
	} else {
		fh = (w*ah + aw - 1) / aw
	}
	dst := image.NewRGBA(image.Rect(0, 0, fw, fh))
	draw.Draw(dst, dst.Rect, image.NewUniform(color.Black), image.Point{}, draw.Src)
	if blurred {
		f := max(float64(fw)/float64(w), float64(fh)/float64(h))
		cover := resizeRGBA(m, int(math.Round(float64(w)*f)), int(math.Round(float64(h)*f)))
		small := resizeRGBA(cover, cover.Rect.Dx()/16, cover.Rect.Dy()/16)
		back := resizeRGBA(small, cover.Rect.Dx(), cover.Rect.Dy())
		draw.Draw(dst, dst.Rect, back, image.Pt((back.Rect.Dx()-fw)/2, (back.Rect.Dy()-fh)/2), draw.Src)
	}
	draw.Draw(dst, m.Rect.Add(image.Pt((fw-w)/2, (fh-h)/2)), m, image.Point{}, draw.Src)
	return dst
}

// drawText draws s in c, scaled from a bitmap font to box's height.
func drawText(dst *image.RGBA, box image.Rectangle, s string, c color.Color) {
	face := basicfont.Face7x13
	tw := font.MeasureString(face, s).Ceil()
	src := image.NewAlpha(image.Rect(0, 0, tw, 13))
	(&font.Drawer{Dst: src, Src: image.Opaque, Face: face, Dot: fixed.P(0, 11)}).DrawString(s)
	if box.Dy() < 1 || box.Dx() < 1 {
		return
	}
	big := image.NewAlpha(image.Rect(0, 0, max(1, int(float64(tw)*float64(box.Dy())/13)), box.Dy()))
	xdraw.NearestNeighbor.Scale(big, big.Rect, src, src.Rect, draw.Src, nil)
	draw.DrawMask(dst, box, image.NewUniform(c), image.Point{}, big, image.Point{}, draw.Over)
}

// captionEdit covers the bottom 15% with an opaque black bar of white text.
func captionEdit(m *image.RGBA) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	bh := max(1, int(math.Round(float64(h)*0.15)))
	bar := image.Rect(0, h-bh, w, h)
	dst := toRGBA(m)
	draw.Draw(dst, bar, image.NewUniform(color.Black), image.Point{}, draw.Src)
	drawText(dst, bar.Inset(bh/5), "BREAKING: WATCH BEFORE IT IS DELETED", color.White)
	return dst
}

// screenshotEdit shows m at the full width of a phone screenshot: a black
// status bar, a white header with an avatar and a name, and a white
// footer of icons and lines of text.
func screenshotEdit(m *image.RGBA) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	status, header, footer := max(2, w*6/100), max(4, w*14/100), max(8, w*35/100)
	dst := image.NewRGBA(image.Rect(0, 0, w, status+header+h+footer))
	draw.Draw(dst, dst.Rect, image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(dst, image.Rect(0, 0, w, status), image.NewUniform(color.Black), image.Point{}, draw.Src)
	drawText(dst, image.Rect(w/20, status/5, w, status*4/5), "9:41        LTE 87%", color.White)
	ay, ar := status+header/2, header*3/10
	for y := ay - ar; y <= ay+ar; y++ {
		for x := w / 20; x <= w/20+2*ar; x++ {
			if math.Hypot(float64(x-w/20-ar), float64(y-ay)) <= float64(ar) {
				dst.SetRGBA(x, y, color.RGBA{R: 40, G: 90, B: 200, A: 255})
			}
		}
	}
	drawText(dst, image.Rect(w/20+3*ar, ay-ar/2, w, ay+ar/2), "news.channel  - 2h", color.Black)
	draw.Draw(dst, m.Rect.Add(image.Pt(0, status+header)), m, image.Point{}, draw.Src)
	fy := status + header + h
	icon := max(2, footer/6)
	for i := range 4 {
		x := w/20 + i*icon*2
		draw.Draw(dst, image.Rect(x, fy+icon/2, x+icon, fy+icon/2+icon), image.NewUniform(color.RGBA{R: 120, G: 120, B: 120, A: 255}), image.Point{}, draw.Src)
	}
	line := max(2, footer/9)
	for i, s := range []string{"1,204 likes", "news.channel Share this everywhere before they take it down", "View all 318 comments"} {
		y := fy + 2*icon + i*line*3/2
		drawText(dst, image.Rect(w/20, y, w, y+line), s, color.Black)
	}
	return dst
}

// sharedEdits are the edits local features are for (crops, pads,
// screenshots), crops encoded as JPEG (quality 75) as uploads are, and a
// caption and a resize that features must survive too.
var sharedEdits = []struct {
	name  string
	jpeg  int // JPEG quality the edit is encoded with; 0: PNG
	apply func(m *image.RGBA, r *rand.Rand) *image.RGBA
}{
	{"crop-10", 0, func(m *image.RGBA, r *rand.Rand) *image.RGBA { return cropEdit(m, 0.90, r) }},
	{"crop-25", 0, func(m *image.RGBA, r *rand.Rand) *image.RGBA { return cropEdit(m, 0.75, r) }},
	{"crop-10", 75, func(m *image.RGBA, r *rand.Rand) *image.RGBA { return cropEdit(m, 0.90, r) }},
	{"crop-25", 75, func(m *image.RGBA, r *rand.Rand) *image.RGBA { return cropEdit(m, 0.75, r) }},
	{"pad-16x9-black", 0, func(m *image.RGBA, _ *rand.Rand) *image.RGBA { return padEdit(m, 16, 9, false) }},
	{"pad-9x16-black", 0, func(m *image.RGBA, _ *rand.Rand) *image.RGBA { return padEdit(m, 9, 16, false) }},
	{"pad-16x9-blur", 0, func(m *image.RGBA, _ *rand.Rand) *image.RGBA { return padEdit(m, 16, 9, true) }},
	{"pad-9x16-blur", 0, func(m *image.RGBA, _ *rand.Rand) *image.RGBA { return padEdit(m, 9, 16, true) }},
	{"screenshot", 0, func(m *image.RGBA, _ *rand.Rand) *image.RGBA { return screenshotEdit(m) }},
	{"screenshot", 75, func(m *image.RGBA, _ *rand.Rand) *image.RGBA { return screenshotEdit(m) }},
	{"caption-bottom", 0, func(m *image.RGBA, _ *rand.Rand) *image.RGBA { return captionEdit(m) }},
	{"resize-50", 0, func(m *image.RGBA, _ *rand.Rand) *image.RGBA {
		return resizeRGBA(m, int(math.Round(float64(m.Rect.Dx())*0.5)), int(math.Round(float64(m.Rect.Dy())*0.5)))
	}},
}

// TestLocalFeaturesOnSharedMedia measures local features on the shared
// originals, chosen as the evaluation chooses them: each of sharedEdits
// of every original against the original (true pairs, counted for the
// originals the evaluation may bank) and against every original of
// another group (unrelated pairs), every two originals of different
// groups, and, for the edits that add the same chrome or text to every
// picture (caption, screenshot), each edited original against the same
// edit of every other (but two blank pictures, which the chrome makes
// one frame). With -v it prints per edit the true pairs verified, their
// points (min, median), the most points of any unrelated pair's best
// placement, verified or not, and the misses; then the hard-negative
// pair (the stereo views of one scene, one group of GROUPS.tsv, which
// features do not always tell apart: see verify.go), and the
// descriptor distances of verified pairs and of query features' nearest
// in unrelated originals. It fails if any unrelated pair verifies, or
// crop-10 recall is under 0.9 or crop-25 under 0.7.
func TestLocalFeaturesOnSharedMedia(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 330 images")
	}
	origs := sharedOriginals(t)
	h := fingerprint.New(fingerprint.Options{})
	ctx := context.Background()
	features := func(data []byte) []mediamatch.Feature {
		m, err := h.Hash(ctx, data)
		if err != nil {
			t.Fatal(err)
		}
		return m.Keyframes[0].Features
	}
	feats := make([][]mediamatch.Feature, len(origs))
	imgs := make([]*image.RGBA, len(origs))
	nfeat, nmax := 0, 0
	for i, o := range origs {
		feats[i] = features(o.data)
		nfeat += len(feats[i])
		nmax = max(nmax, len(feats[i]))
		img, _, err := image.Decode(bytes.NewReader(o.data))
		if err != nil {
			t.Fatal(err)
		}
		imgs[i] = toRGBA(img)
	}
	// The two of a hard-negative group (a stereo pair: one scene from two
	// points of view) are counted apart; the members of a negative group
	// (blank pictures) must not match each other.
	related := func(i, j int) bool {
		return i == j || origs[i].relation == "hard-negative" && origs[i].group == origs[j].group
	}
	pr := defaultLocal()
	var fps []string
	most, worst := 0, ""
	hard, hardVerified, hardMost := 0, 0, 0
	// compare matches q (made from original i) against it (made from j).
	compare := func(q, it []mediamatch.Feature, i, j int, what string) int {
		p := placeLocal(q, it, pr)
		ok := p.accepted(pr)
		if related(i, j) {
			hard++
			hardMost = max(hardMost, p.points)
			if ok {
				hardVerified++
			}
			return 0
		}
		if ok {
			fps = append(fps, fmt.Sprintf("%s (%d points, spread %.2f, scale %.2f, second %d)", what, p.points, p.spread, p.scale, p.second))
		}
		if p.points > most {
			most, worst = p.points, what
		}
		return p.points
	}
	// The candidate retrieval as Match does it: every original's features
	// in a KeyIndex, and the votes each query's keys give its own
	// original (true) and the others (unrelated).
	// Beside them, as more unrelated pictures, each original's 7 turns
	// and mirrors and the same at half size (refs len(origs) and up,
	// owner[ref] the original): upright descriptors of a turned picture
	// are other descriptors, with natural images' statistics. rank is
	// how many entries of other originals outvote the query's own: Match
	// verifies the localVerify best.
	keys := hamming.NewKeyIndex(hamming.KeyConfig{})
	owner := map[uint64]int{}
	for i, f := range feats {
		owner[uint64(i)] = i
		if len(f) > 0 {
			keys.Add(uint64(i), 0, featureKeys(nil, f), nil)
		}
	}
	for i := range origs {
		for tr := 1; tr < 8; tr++ {
			for _, half := range []bool{false, true} {
				m := turnRGBA(imgs[i], tr)
				if half {
					m = resizeRGBA(m, m.Rect.Dx()/2, m.Rect.Dy()/2)
				}
				var buf bytes.Buffer
				if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, m); err != nil {
					t.Fatal(err)
				}
				ref := uint64(len(owner))
				owner[ref] = i
				if f := features(buf.Bytes()); len(f) > 0 {
					keys.Add(ref, 0, featureKeys(nil, f), nil)
				}
			}
		}
	}
	kv := keys.View()
	votes := func(q []mediamatch.Feature, i int) (own, other, rank int) {
		var others []int
		kv.VoteWeighted(queryKeys(nil, q), 1, localMaxPostings, func(ref uint64, _ uint32, n int, _ []byte) {
			switch j := owner[ref]; {
			case int(ref) == i:
				own = n
			case !related(i, j):
				others = append(others, n)
				other = max(other, n)
			}
		})
		for _, n := range others {
			if n >= own {
				rank++
			}
		}
		return own, other, rank
	}
	pairsMost := 0
	for i := range origs {
		for j := range origs {
			if i != j {
				pairsMost = max(pairsMost, compare(feats[i], feats[j], i, j, origs[i].name+" ~ "+origs[j].name))
			}
		}
	}
	var trueDists, nearestUnrelated []int
	var b strings.Builder
	fmt.Fprintf(&b, "originals: %d, %.0f features each on average, %d at most\n", len(origs), float64(nfeat)/float64(len(origs)), nmax)
	fmt.Fprintf(&b, "unrelated entries voting: %d (the originals, their turns and mirrors, at full and half size)\n", kv.Len())
	fmt.Fprintf(&b, "%-17s %7s %7s %7s %9s %9s %9s %8s  %s\n", "edit", "recall", "pts min", "pts med", "unrel max", "votes min", "unrel vts", "rank max", "missed (points, spread)")
	recall := make(map[string]float64)
	for _, e := range sharedEdits {
		name := e.name
		if e.jpeg > 0 {
			name += fmt.Sprintf("-jpeg%d", e.jpeg)
		}
		right, queries, emost := 0, 0, 0
		vmin, vother, rmax := -1, 0, 0
		var pts []int
		var missed []string
		qs := make([][]mediamatch.Feature, len(origs))
		for i, o := range origs {
			var buf bytes.Buffer
			img := e.apply(imgs[i], rand.New(rand.NewPCG(1, editSeed(e.name, o.name))))
			var err error
			if e.jpeg > 0 {
				err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: e.jpeg})
			} else {
				err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
			}
			if err != nil {
				t.Fatal(err)
			}
			q := features(buf.Bytes())
			qs[i] = q
			own, other, rank := votes(q, i)
			vother = max(vother, other)
			if !o.distractor {
				if vmin < 0 || own < vmin {
					vmin = own
				}
				rmax = max(rmax, rank)
				// Local features are the only way to crops, and the
				// surest to pads and screenshots: there the copy must be
				// among what Match verifies. (A half-size copy, which
				// PDQ finds, keeps few of the features it votes with.)
				if rank >= localVerify && !strings.HasPrefix(e.name, "resize") && !strings.HasPrefix(e.name, "caption") {
					t.Errorf("%s of %s: %d unrelated entries outvote it (%d votes), Match verifies %d", name, o.name, rank, own, localVerify)
				}
				queries++
				p := placeLocal(q, feats[i], pr)
				if p.accepted(pr) {
					right++
					pts = append(pts, p.points)
					trueDists = append(trueDists, p.dists...)
				} else {
					missed = append(missed, fmt.Sprintf("%s(%d,%.2f)", o.name, p.points, p.spread))
				}
			}
			for j := range origs {
				if j != i {
					emost = max(emost, compare(q, feats[j], i, j, name+" of "+o.name+" ~ "+origs[j].name))
					if e.name == "crop-10" && e.jpeg == 0 && !related(i, j) {
						nearestUnrelated = append(nearestUnrelated, nearestDists(q, feats[j])...)
					}
				}
			}
		}
		if e.name == "caption-bottom" || e.name == "screenshot" {
			for i := range origs {
				for j := range origs {
					if i != j && (len(feats[i]) > 0 || len(feats[j]) > 0) {
						emost = max(emost, compare(qs[i], qs[j], i, j, name+" of "+origs[i].name+" ~ "+name+" of "+origs[j].name))
					}
				}
			}
		}
		slices.Sort(pts)
		pmin, pmed := 0, 0
		if len(pts) > 0 {
			pmin, pmed = pts[0], pts[len(pts)/2]
		}
		if e.jpeg == 0 {
			recall[name] = float64(right) / float64(max(1, queries))
		}
		fmt.Fprintf(&b, "%-17s %3d/%-3d %7d %7d %9d %9d %9d %8d  %s\n", name, right, queries, pmin, pmed, emost, vmin, vother, rmax, strings.Join(missed, " "))
	}
	fmt.Fprintf(&b, "every two originals of different groups: most points %d\n", pairsMost)
	fmt.Fprintf(&b, "any unrelated pair: most points %d (%s)\n", most, worst)
	fmt.Fprintf(&b, "hard negatives (the stereo pair and its edits): %d of %d verified, most points %d\n", hardVerified, hard, hardMost)
	fmt.Fprintf(&b, "descriptor distance of verified pairs: %s\n", percentiles(trueDists))
	fmt.Fprintf(&b, "nearest descriptor in an unrelated original (crop-10 queries): %s\n", percentiles(nearestUnrelated))
	t.Logf("\n%s", b.String())
	for _, fp := range fps {
		t.Errorf("unrelated pair verified: %s", fp)
	}
	if hardVerified > 0 {
		t.Errorf("the stereo pair (a hard negative: one scene from two points of view) verified %d times", hardVerified)
	}
	if r := recall["crop-10"]; r < 0.9 {
		t.Errorf("crop-10 recall %.2f, want 0.9 or more", r)
	}
	if r := recall["crop-25"]; r < 0.7 {
		t.Errorf("crop-25 recall %.2f, want 0.7 or more", r)
	}
}

// nearestDists returns, for each feature of q, the distance of its
// nearest descriptor in it.
func nearestDists(q, it []mediamatch.Feature) []int {
	qd, id := words(q), words(it)
	out := make([]int, 0, len(q))
	for _, x := range qd {
		best := 256
		for _, y := range id {
			best = min(best, hamming4(&x, &y))
		}
		if len(id) > 0 {
			out = append(out, best)
		}
	}
	return out
}

// percentiles formats the 10th, 50th and 90th percentiles and the mean of ds.
func percentiles(ds []int) string {
	if len(ds) == 0 {
		return "none"
	}
	slices.Sort(ds)
	sum := 0
	for _, d := range ds {
		sum += d
	}
	n := len(ds)
	return fmt.Sprintf("p10 %d, p50 %d, p90 %d, mean %.1f (%d)", ds[n/10], ds[n/2], ds[n*9/10], float64(sum)/float64(n), n)
}

// randomFeatures returns n features at random places of a 4:3 frame, on
// random levels 0..7, with random descriptors.
func randomFeatures(r *rand.Rand, n int) []mediamatch.Feature {
	fs := make([]mediamatch.Feature, n)
	for i := range fs {
		fs[i] = mediamatch.Feature{
			X: uint16(r.IntN(mediamatch.FeatureUnit + 1)), Y: uint16(r.IntN(mediamatch.FeatureUnit*3/4 + 1)), Level: uint8(r.IntN(8)),
		}
		for k := range fs[i].Desc {
			fs[i].Desc[k] = byte(r.Uint32())
		}
	}
	return fs
}

// placed returns the features of it that a copy of the item cropped to
// the window [x0, x1) x [y0, y1) (FeatureUnit of the item) and rescaled
// so that the window's longer side is the copy's has, with flip bits of
// each descriptor changed at random (re-encoding).
func placed(r *rand.Rand, it []mediamatch.Feature, x0, y0, x1, y1 int, flip int) []mediamatch.Feature {
	s := float64(mediamatch.FeatureUnit) / float64(max(x1-x0, y1-y0))
	var q []mediamatch.Feature
	for _, f := range it {
		if int(f.X) < x0 || int(f.X) >= x1 || int(f.Y) < y0 || int(f.Y) >= y1 {
			continue
		}
		g := f
		g.X = uint16(math.Round(float64(int(f.X)-x0) * s))
		g.Y = uint16(math.Round(float64(int(f.Y)-y0) * s))
		for range flip {
			k := r.IntN(256)
			g.Desc[k/8] ^= 0x80 >> (k % 8)
		}
		q = append(q, g)
	}
	return q
}

// TestVerifyLocalSynthetic checks verifyLocal on made-up features: a
// cropped, rescaled copy verifies with every feature it keeps and the
// placement's boxes; unrelated features, too few, and features that all
// look alike do not.
func TestVerifyLocalSynthetic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	it := randomFeatures(r, 256)
	for _, c := range []struct {
		name           string
		x0, y0, x1, y1 int
		flip           int
	}{
		{"whole", 0, 0, 4097, 3073, 0},
		{"crop-10 re-encoded", 200, 100, 200 + 3686, 100 + 2765, 8},
		{"crop-25", 1000, 700, 1000 + 3072, 700 + 2304, 0},
		{"half, re-encoded", 1500, 500, 1500 + 2048, 500 + 1536, 12},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := placed(r, it, c.x0, c.y0, c.x1, c.y1, c.flip)
			m, ok := verifyLocal(q, it)
			if !ok {
				t.Fatalf("verifyLocal of a copy of %d features: no match", len(q))
			}
			if m.points < len(q)*9/10 || m.points > len(q) {
				t.Errorf("points = %d, want %d (all the copy keeps) or nearly", m.points, len(q))
			}
			if m.dist > c.flip+1 {
				t.Errorf("mean distance = %d, want about %d (the bits flipped)", m.dist, c.flip)
			}
			// The item box is the copy's window, less the margins no
			// feature happens to fall in.
			if b := m.ibox; b[0] < c.x0 || b[1] < c.y0 || b[2] >= c.x1 || b[3] >= c.y1 ||
				(b[2]-b[0])*10 < (min(c.x1, 4097)-c.x0)*8 {
				t.Errorf("item box %v, want most of the window %v", b, [4]int{c.x0, c.y0, c.x1, c.y1})
			}
		})
	}
	cases := map[string][2][]mediamatch.Feature{
		"unrelated":      {randomFeatures(r, 256), it},
		"empty query":    {nil, it},
		"empty item":     {it, nil},
		"one point":      {it[:1], it[:1]},
		"two points":     {it[:2], it},
		"too few points": {it[:defaultLocal().minPoints-1], it}, // a copy, but fewer than minPoints
		"alike":          {alike(randomFeatures(r, 200)), alike(randomFeatures(r, 200))},
		"alike, placed":  {placed(r, alike(it), 0, 0, 4097, 3073, 0), alike(it)},
		"query in a tip": {placed(r, it, 0, 0, 700, 500, 0), it}, // a logo-sized part
	}
	for name, c := range cases {
		if m, ok := verifyLocal(c[0], c[1]); ok {
			t.Errorf("%s: verified %+v, want no match", name, m)
		}
	}
}

// alike gives every feature of fs the first one's descriptor.
func alike(fs []mediamatch.Feature) []mediamatch.Feature {
	out := slices.Clone(fs)
	for i := range out {
		out[i].Desc = fs[0].Desc
	}
	return out
}

// TestVerifyLocalParallax checks that a scene seen from another point of
// view, whose near part shifts more than its far part (a stereo pair),
// does not verify though each part alone is a copy, and that one depth
// alone (a copy) does.
func TestVerifyLocalParallax(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	it := randomFeatures(r, 256)
	q := slices.Clone(it)
	for i := range q {
		if q[i].Y > 1536 { // the lower half is nearer: it shifts 300 units, the upper 100
			q[i].X = uint16(min(4096, int(q[i].X)+300))
		} else {
			q[i].X = uint16(min(4096, int(q[i].X)+100))
		}
	}
	if m, ok := verifyLocal(q, it); ok {
		t.Errorf("two depths: verified %+v, want no match", m)
	}
	for i := range q {
		q[i].X = uint16(min(4096, int(it[i].X)+100))
	}
	if _, ok := verifyLocal(q, it); !ok {
		t.Errorf("one depth: no match, want one")
	}
}

// BenchmarkVerifyLocal times verifyLocal of two sets of 256 features: a
// crop-10 copy and an unrelated set, with each distRow kernel the CPU
// runs.
func BenchmarkVerifyLocal(b *testing.B) {
	defer func(k string) { distRowKernel = k }(distRowKernel)
	r := rand.New(rand.NewPCG(1, 2))
	it := randomFeatures(r, 256)
	copied := placed(r, it, 200, 100, 200+3686, 100+2765, 8)
	copied = append(copied, randomFeatures(r, 256-len(copied))...)
	for _, k := range distRowKernels() {
		distRowKernel = k
		for name, q := range map[string][]mediamatch.Feature{"copy": copied, "unrelated": randomFeatures(r, 256)} {
			b.Run(name+"/"+k, func(b *testing.B) {
				for b.Loop() {
					verifyLocal(q, it)
				}
			})
		}
	}
}

// BenchmarkDistRow times the distances of a verification (256 query
// descriptors against 256 of an item) with each kernel the CPU runs,
// alternating them, and reports each one's time and its ratio to the
// plain Go kernel's.
func BenchmarkDistRow(b *testing.B) {
	defer func(k string) { distRowKernel = k }(distRowKernel)
	r := rand.New(rand.NewPCG(3, 4))
	it := words(randFeatures(r, 256, 4, 3))
	q := words(randFeatures(r, 256, 4, 3))
	row := make([]int32, len(it))
	colBest, colArg := make([]int32, len(it)), make([]int32, len(it))
	kernels := distRowKernels()
	spent := make([]time.Duration, len(kernels))
	for b.Loop() {
		for i, k := range kernels {
			distRowKernel = k
			for j := range colBest {
				colBest[j] = math.MaxInt32
			}
			t0 := time.Now()
			for a := range q {
				distRow(&q[a], it, row, colBest, colArg, int32(a))
			}
			spent[i] += time.Since(t0)
		}
	}
	for i, k := range kernels {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(b.N)/1e3, k+"-us/matrix")
		b.ReportMetric(float64(spent[i])/float64(spent[0]), k+"/go")
	}
}

// turnRGBA returns m turned by transform tr, numbered as
// mediamatch.Transform: 1-3 rotate by 90, 180, 270 degrees, 4 and 5
// mirror top to bottom and left to right, 6 and 7 mirror across the
// diagonals.
func turnRGBA(m *image.RGBA, tr int) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	ow, oh := w, h
	if tr == 1 || tr == 3 || tr >= 6 {
		ow, oh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := range h {
		for x := range w {
			var u, v int
			switch tr {
			case 1:
				u, v = y, w-1-x
			case 2:
				u, v = w-1-x, h-1-y
			case 3:
				u, v = h-1-y, x
			case 4:
				u, v = x, h-1-y
			case 5:
				u, v = w-1-x, y
			case 6:
				u, v = y, x
			default:
				u, v = h-1-y, w-1-x
			}
			out.SetRGBA(u, v, m.RGBAAt(m.Rect.Min.X+x, m.Rect.Min.Y+y))
		}
	}
	return out
}
