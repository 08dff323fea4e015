package hashlist

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Writer writes items as a hash list. What each format keeps of an item:
//
//   - jsonl: everything (Bank, ID, Labels, Disabled, CreateTime,
//     UpdateTime, Media, Source), local features included: the only
//     format that keeps them (partner formats have no place for them).
//   - lines: "<type> <hex>" for each signal (pdq, phash, dhash, md5 or
//     video_md5, sha256); drops the id, labels, quality, source and timing.
//   - pdq: "hex,quality,filename" for each PDQ signal, the filename from
//     the label "filename"; drops everything else.
//   - te-csv: a row for each PDQ and MD5 signal: signal_type (pdq, md5,
//     video_md5), the hash, collab (Source.Partner, else the label
//     "collab"), the label "category", the tags; drops the id, other
//     labels, quality, SHA-256, pHash and dHash.
//   - te-simple: one row for each item: its PDQ hash (an image's), else its
//     MD5, with the item id as indicator_id, the label
//     "first_descriptor_id", Source.FirstSeen as added_on and the tags as
//     labels (plus media_type_video for a video's MD5); drops other
//     signals, labels, quality, partner and Source.Updated.
//   - te-updates: one object per line for each item: its PDQ hash (an
//     image's), else MD5, else SHA-256, with the item id, the tags,
//     Source.FirstSeen and Source.Updated as creation_time and last_updated
//     (whole Unix seconds), and one descriptor with the partner as owner
//     and the labels status, share_level, review_status and confidence;
//     drops other signals, labels and quality.
//   - vpdq: the one video's keyframes (mediamatch.WriteVPDQ); drops the
//     id, labels, source and file signals.
//
// In every format but jsonl and vpdq, signals that the index would never
// match are not written: those of low-information keyframes, PDQ under
// quality 50, constant hashes. The tags are Source.Tags, or for an item
// without a Source those of its "tag:" labels; a space-separated tag
// column leaves out tags that hold a space.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	f     Format
	bw    *bufio.Writer
	cw    *csv.Writer // te-csv, te-simple
	enc   *json.Encoder
	items int // items written (vpdq)
	err   error
}

// errClosed is returned by a Writer after Close.
var errClosed = errors.New("hashlist: writer is closed")

// NewWriter returns a Writer of format f to w. It returns an error
// wrapping ErrCannotWrite for formats that are read only (tcap, ncmec,
// stopncii) and ErrUnknownFormat for an unknown f. The CSV formats' header
// is written at once (to the buffer that Close flushes).
func NewWriter(w io.Writer, f Format) (*Writer, error) {
	if _, err := ParseFormat(string(f)); err != nil {
		return nil, err
	}
	wr := &Writer{f: f, bw: bufio.NewWriter(w)}
	switch f {
	case TCAP, NCMEC, StopNCII:
		return nil, fmt.Errorf("%w: %s", ErrCannotWrite, f)
	case TECSV, TESimple:
		wr.cw = csv.NewWriter(wr.bw)
		cols := teCSVColumns
		if f == TESimple {
			cols = teSimpleColumns
		}
		wr.cw.Write(cols)
	case JSONL, TEUpdates:
		wr.enc = json.NewEncoder(wr.bw)
		wr.enc.SetEscapeHTML(false)
	}
	return wr, nil
}

// Write writes it. It returns an error wrapping ErrNotRepresentable, having
// written nothing, if the format cannot carry the item (see Writer), and
// the underlying writer's error if writing failed.
func (w *Writer) Write(it mediamatch.Item) error {
	if w.err != nil {
		return w.err
	}
	video := it.Media.Kind == mediamatch.KindVideo
	var err error
	switch w.f {
	case JSONL:
		err = w.enc.Encode(toJSONL(it))
	case Lines, PDQRef, TECSV:
		err = w.writeRows(it, video)
	case TESimple, TEUpdates:
		err = w.writeTE(it, video)
	case VPDQ:
		switch {
		case w.items > 0:
			err = fmt.Errorf("a vpdq file holds one video, and %q is a second item", it.ID)
		case !video:
			err = fmt.Errorf("item %q is an %v, want a video", it.ID, it.Media.Kind)
		default:
			err = mediamatch.WriteVPDQ(w.bw, it.Media)
		}
		if err != nil {
			err = notRepresentable(w.f, err, "%v", err)
		}
	}
	if err == nil {
		w.items++
	}
	return err
}

// writeRows writes a row for each signal of it that the format carries.
func (w *Writer) writeRows(it mediamatch.Item, video bool) error {
	var rows [][]string
	for _, s := range exportSignals(it) {
		switch {
		case w.f == Lines:
			rows = append(rows, []string{pyName(s, video) + " " + s.Hex()})
		case w.f == PDQRef && s.Type == mediamatch.PDQ:
			var b strings.Builder
			if err := mediamatch.WriteHashLine(&b, s, it.Labels["filename"]); err != nil {
				return notRepresentable(w.f, err, "item %q: %v", it.ID, err)
			}
			rows = append(rows, []string{strings.TrimSuffix(b.String(), "\n")})
		case w.f == TECSV && (s.Type == mediamatch.PDQ || s.Type == mediamatch.MD5):
			partner := it.Labels["collab"]
			if it.Source != nil && it.Source.Partner != "" {
				partner = it.Source.Partner
			}
			rows = append(rows, []string{pyName(s, video), s.Hex(), partner, it.Labels["category"], spaced(tagsOf(it))})
		}
	}
	if rows == nil {
		return notRepresentable(w.f, nil, "item %q has no hash this format holds", it.ID)
	}
	for _, r := range rows {
		if err := w.writeRow(r); err != nil {
			return err
		}
	}
	return nil
}

// writeRow writes one row: a CSV record, or a line as it is.
func (w *Writer) writeRow(r []string) error {
	if w.cw != nil {
		return w.cw.Write(r)
	}
	_, err := w.bw.WriteString(r[0] + "\n")
	return err
}

// writeTE writes the te-simple row or the te-updates object of it.
func (w *Writer) writeTE(it mediamatch.Item, video bool) error {
	types := []mediamatch.SignalType{mediamatch.PDQ, mediamatch.MD5, mediamatch.SHA256}
	switch {
	case video && w.f == TESimple:
		types = types[1:2]
	case video:
		types = types[1:]
	case w.f == TESimple: // a te-simple file tells PDQ from SHA-256 by its name only
		types = types[:2]
	}
	var src mediamatch.Source
	if it.Source != nil {
		src = *it.Source
	}
	tags := tagsOf(it)
	for _, t := range types {
		for _, s := range exportSignals(it) {
			if s.Type != t {
				continue
			}
			if w.f == TESimple {
				if video && !slices.Contains(tags, videoTag) {
					tags = append(tags, videoTag)
				}
				return w.cw.Write([]string{s.Hex(), it.ID, it.Labels["first_descriptor_id"], formatTime(src.FirstSeen), spaced(tags)})
			}
			id, _ := json.Marshal(it.ID)
			u := teUpdate{ID: id, Indicator: s.Hex(), Type: teName(s, video), Tags: tags,
				CreationTime: unixSeconds(src.FirstSeen), LastUpdated: unixSeconds(src.Updated)}
			d := teDescriptor{Confidence: jsonScalar(it.Labels["confidence"]), ReviewStatus: it.Labels["review_status"],
				Status: it.Labels["status"], ShareLevel: it.Labels["share_level"]}
			if src.Partner != "" {
				d.Owner = &teOwner{Name: src.Partner}
			}
			if d.Owner != nil || d.Confidence != nil || d.ReviewStatus+d.Status+d.ShareLevel != "" {
				u.Descriptors = &teDescriptors{Data: []teDescriptor{d}}
			}
			return w.enc.Encode(u)
		}
	}
	return notRepresentable(w.f, nil, "item %q has no hash this format holds", it.ID)
}

// WriteDelete writes the retraction of the item id: {"id":...,"delete":true}
// in jsonl, {"id":...,"should_delete":true} in te-updates. It returns an
// error wrapping ErrNotRepresentable in other formats.
func (w *Writer) WriteDelete(id string) error {
	if w.err != nil {
		return w.err
	}
	switch w.f {
	case JSONL:
		return w.enc.Encode(jsonlItem{ID: id, Delete: true})
	case TEUpdates:
		raw, _ := json.Marshal(id)
		return w.enc.Encode(teUpdate{ID: raw, ShouldDelete: true})
	}
	return notRepresentable(w.f, nil, "no retractions")
}

// Close writes what is buffered. It does not close the underlying writer.
// It returns the first error of writing; later calls return errClosed.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	w.err = errClosed
	if w.cw != nil {
		w.cw.Flush()
		if err := w.cw.Error(); err != nil {
			return err
		}
	}
	return w.bw.Flush()
}

// exportSignals returns the signals of it that a hash list should carry:
// untransformed, valid, not constant and matchable (Keyframe.Matchable for
// keyframe signals, Signal.Matchable for file signals). Keyframe signals come first.
func exportSignals(it mediamatch.Item) []mediamatch.Signal {
	var out []mediamatch.Signal
	add := func(sigs []mediamatch.Signal) {
		for _, s := range sigs {
			if s.Transform == mediamatch.TransformNone && s.View.Whole() && s.Validate() == nil && !constant(s.Hash) && s.Matchable() {
				out = append(out, s)
			}
		}
	}
	for _, k := range it.Media.Keyframes {
		if !k.LowInformation {
			add(k.Signals)
		}
	}
	add(it.Media.FileSignals)
	return out
}

// pyName is the python-threatexchange name of the signal's type.
func pyName(s mediamatch.Signal, video bool) string {
	if s.Type == mediamatch.MD5 && video {
		return "video_md5"
	}
	return string(s.Type)
}

// teName is the ThreatExchange name of the signal's type.
func teName(s mediamatch.Signal, video bool) string {
	if s.Type == mediamatch.MD5 && video {
		return "HASH_VIDEO_MD5"
	}
	return "HASH_" + strings.ToUpper(string(s.Type))
}

// tagsOf returns the tags of it: Source.Tags, or for an item without a
// Source the tags of its "tag:" labels, sorted.
func tagsOf(it mediamatch.Item) []string {
	if it.Source != nil {
		return slices.Clone(it.Source.Tags)
	}
	var tags []string
	for k := range it.Labels {
		if t, ok := strings.CutPrefix(k, tagPrefix); ok && t != "" {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return tags
}

// spaced joins the tags with spaces, leaving out those that hold a space.
func spaced(tags []string) string {
	var out []string
	for _, t := range tags {
		if t != "" && len(strings.Fields(t)) == 1 && strings.TrimSpace(t) == t {
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}

// unixSeconds returns t as JSON Unix seconds, or nil for the zero time.
func unixSeconds(t time.Time) json.RawMessage {
	if t.IsZero() {
		return nil
	}
	return json.RawMessage(strconv.FormatInt(t.Unix(), 10))
}

// jsonScalar returns v as a JSON number if it is one, else as a JSON
// string; nil for "".
func jsonScalar(v string) json.RawMessage {
	if v == "" {
		return nil
	}
	if ('0' <= v[0] && v[0] <= '9' || v[0] == '-') && json.Valid([]byte(v)) {
		return json.RawMessage(v)
	}
	raw, _ := json.Marshal(v)
	return raw
}
