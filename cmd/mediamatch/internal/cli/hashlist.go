package cli

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// A PDQ hash list, as partners share them, one item per line, in any of
// three forms (FORMATS.md):
//
//	<pdqhex>
//	pdq <pdqhex>
//	<pdqhex>,<quality>,<filename>     the reference hasher's output
//
// A PDQ hash is 64 hexadecimal digits (read in either case, stored as
// bytes); the lines are read by mediamatch.ParsePDQ and
// mediamatch.ParseHashLine. Blank lines and lines starting with '#' are skipped. The item id
// is the filename's base name when the line has one, else "pdq-" and the
// first 16 hex digits of the hash. Lines without a quality get quality
// 100: a shared list holds only hashes its producer found good enough to
// match (partners filter at PDQ.MinQuality, as mediamatch does). A line
// whose hash is not Matchable (a quality under PDQ.MinQuality) is bad, as
// in an import: the item would never match.

// maxBadLines bounds the bad lines listed in one error.
const maxBadLines = 20

// listQuality is the quality given to hashes listed without one.
const listQuality = 100

// hashListItem is one item of a hash list.
type hashListItem struct {
	line int
	id   string
	sig  mediamatch.Signal
}

// media returns the item's fingerprint: an image with one PDQ keyframe.
func (h hashListItem) media() mediamatch.Media {
	return mediamatch.Media{Kind: mediamatch.KindImage,
		Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{h.sig}}}}
}

// item returns the item to add to bank with labels.
func (h hashListItem) item(bank string, labels map[string]string) mediamatch.Item {
	return mediamatch.Item{Bank: bank, ID: h.id, Labels: labels, Media: h.media()}
}

// parseHashList reads a PDQ hash list. It returns every item, or, if any
// line is bad, an error naming each bad line (up to maxBadLines) and why:
// the caller adds nothing then.
func parseHashList(r io.Reader) ([]hashListItem, error) {
	var (
		items []hashListItem
		bad   []string
		seen  = map[string]int{} // id -> line
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		it, err := parseHashLine(text)
		if err == nil {
			if first, ok := seen[it.id]; ok {
				err = fmt.Errorf("item id %q repeats line %d, want one line per item", it.id, first)
			}
		}
		if err != nil {
			if len(bad) < maxBadLines {
				bad = append(bad, fmt.Sprintf("line %d: %v", n, err))
			} else if len(bad) == maxBadLines {
				bad = append(bad, "...")
			}
			continue
		}
		it.line = n
		seen[it.id] = n
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("bad hash list, nothing added:\n  %s", strings.Join(bad, "\n  "))
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("no hashes in the list, want one PDQ hash per line")
	}
	return items, nil
}

// parseHashLine parses one non-blank line of a hash list with the
// fingerprint package's readers of the partners' text forms.
func parseHashLine(text string) (hashListItem, error) {
	if strings.Contains(text, ",") {
		sig, name, err := mediamatch.ParseHashLine(text)
		if err != nil {
			return hashListItem{}, err
		}
		if !sig.Matchable() {
			return hashListItem{}, fmt.Errorf("pdq quality %d, want at least %d", sig.Quality, sig.Type.MinQuality())
		}
		id := path.Base(strings.ReplaceAll(name, `\`, "/"))
		if name == "" {
			id = defaultHashID(sig)
		} else if err := mediamatch.ValidateItemID("", id); err != nil {
			return hashListItem{}, fmt.Errorf("item id (the filename's base name): %w", err)
		}
		return hashListItem{id: id, sig: sig}, nil
	}
	fields := strings.Fields(text)
	var hexPart string
	switch len(fields) {
	case 1:
		hexPart = fields[0]
	case 2:
		if t := strings.ToLower(fields[0]); t != string(mediamatch.PDQ) {
			if mediamatch.SignalType(t).Valid() {
				return hashListItem{}, fmt.Errorf("signal type %q is not supported here, want pdq: add --hashes reads PDQ lists", fields[0])
			}
			return hashListItem{}, fmt.Errorf("unknown signal type %q, want pdq", fields[0])
		}
		hexPart = fields[1]
	default:
		return hashListItem{}, fmt.Errorf("%d words, want <hash>, pdq <hash> or <hash>,<quality>,<filename>", len(fields))
	}
	sig, err := mediamatch.ParsePDQ(hexPart)
	if err != nil {
		return hashListItem{}, err
	}
	sig.Quality = listQuality
	return hashListItem{id: defaultHashID(sig), sig: sig}, nil
}

// defaultHashID is the id of a listed hash without a filename.
func defaultHashID(s mediamatch.Signal) string { return "pdq-" + s.Hex()[:16] }
