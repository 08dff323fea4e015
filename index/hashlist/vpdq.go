package hashlist

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// vpdqDecoder reads a vPDQ per-frame file as one video item. The lines are
// parsed by mediamatch.ParseVPDQ; a bad line makes the whole file one
// *LineError, after which the reader is at its end.
type vpdqDecoder struct {
	lr   *lineReader
	id   string // ReaderOptions.ID
	done bool
}

func (d *vpdqDecoder) next() (Record, error) {
	if d.done {
		return Record{}, io.EOF
	}
	d.done = true
	var (
		text  strings.Builder // the frame lines, normalised
		first int             // line of the first frame
		prev  mediamatch.Keyframe
		count int
	)
	for {
		line, n, err := d.lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Record{}, err
		}
		k, err := mediamatch.ParseVPDQLine(line)
		if err != nil {
			return Record{}, lineErr(n, err)
		}
		if count > 0 && (k.Index <= prev.Index || k.Start <= prev.Start) {
			return Record{}, &LineError{Line: n, Reason: fmt.Sprintf("frame %d at %v after frame %d at %v, want both increasing",
				k.Index, k.Start, prev.Index, prev.Start)}
		}
		if count++; count > mediamatch.MaxKeyframes {
			return Record{}, &LineError{Line: n, Reason: fmt.Sprintf("more than %d frames", mediamatch.MaxKeyframes)}
		}
		if first == 0 {
			first = n
		}
		prev = k
		text.WriteString(line)
		text.WriteByte('\n')
	}
	if count == 0 {
		return Record{}, io.EOF
	}
	m, err := mediamatch.ParseVPDQ(strings.NewReader(text.String()))
	if err != nil { // the lines were checked one by one above
		return Record{}, lineErr(first, err)
	}
	usable := false
	for i := range m.Keyframes {
		k := &m.Keyframes[i]
		s := k.Signals[0]
		k.LowInformation = constant(s.Hash)
		usable = usable || k.Matchable(s)
	}
	if !usable {
		return Record{}, &LineError{Line: first, Reason: fmt.Sprintf(
			"no frame has a pdq hash of quality at least %d that is not constant", mediamatch.PDQ.MinQuality())}
	}
	id := d.id
	if id == "" {
		if id, err = vpdqID(m); err != nil {
			return Record{}, lineErr(first, err)
		}
	}
	return Record{Line: first, Item: mediamatch.Item{ID: id, Media: m}}, nil
}

// vpdqID is the id of a video read from a vPDQ file without one: "vpdq-"
// and the first 16 bytes, in hex, of the SHA-256 of its frames as
// WriteVPDQ writes them (so that the same frames written differently get
// the same id).
func vpdqID(m mediamatch.Media) (string, error) {
	h := sha256.New()
	if err := mediamatch.WriteVPDQ(h, m); err != nil {
		return "", err
	}
	return "vpdq-" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}
