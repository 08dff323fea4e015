package hashlist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// This file reads the JSON document formats, te-updates, tcap and
// stopncii, with encoding/json's token API: it walks into the top-level
// objects and decodes the elements of their record array one at a time.

// countingReader passes reads through. It remembers where the newlines
// are, so that a byte offset can be turned into a line number, and reads
// at most limit bytes past mark (the start of the value being decoded),
// which bounds the memory that one record can take.
type countingReader struct {
	r           io.Reader
	off         int64   // bytes read
	nl          []int64 // offsets of the newlines after the last offset asked about
	lines       int     // newlines before that offset
	mark, limit int64
	err         error // errTooLong, once returned: a decoder must not read on after it
}

// errTooLong is returned by countingReader.Read past the limit.
var errTooLong = errors.New("record too long")

func (c *countingReader) Read(p []byte) (int, error) {
	room := c.mark + c.limit - c.off
	if room <= 0 || c.err != nil {
		c.err = errTooLong
		return 0, c.err
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		if j < 0 {
			break
		}
		c.nl = append(c.nl, c.off+int64(i+j))
		i += j + 1
	}
	c.off += int64(n)
	return n, err
}

// line returns the number of the line that holds byte offset off, which
// must not be less than in the previous call.
func (c *countingReader) line(off int64) int {
	i := 0
	for i < len(c.nl) && c.nl[i] < off {
		i++
	}
	c.lines += i
	c.nl = c.nl[i:]
	return c.lines + 1
}

// tooLong says which record was over the limit.
func (c *countingReader) tooLong(line int) error {
	return fmt.Errorf("line %d: a record of more than %d bytes", line, c.limit-recordSlack)
}

// recordSlack is what a countingReader lets a decoder read past the
// largest record: its read-ahead.
const recordSlack = 4096

// jsonDecoder reads a sequence of top-level JSON objects, returning the
// elements of the array under arrayKey as records.
type jsonDecoder struct {
	dec      *json.Decoder
	cr       *countingReader
	arrayKey string
	elem     func(raw json.RawMessage) (entry, error)
	topKey   func(key string, raw json.RawMessage) // other top-level keys
	// flat collects the other top-level keys of an object into fields,
	// which is a record itself if it has no array (te-updates' one
	// update per line).
	flat       bool
	fields     map[string]json.RawMessage
	fieldBytes int64 // the size of fields, bounded like a record

	inObj, inArr, sawArr bool
	objLine              int
}

// newJSONDecoder returns the decoder of f, one of TEUpdates, TCAP and
// StopNCII, which stores the list's checkpoint in *cp.
func newJSONDecoder(f Format, r io.Reader, max int, cp *string) *jsonDecoder {
	cr := &countingReader{r: r, limit: int64(max) + recordSlack}
	d := &jsonDecoder{dec: json.NewDecoder(cr), cr: cr}
	checkpoint := func(name string) func(string, json.RawMessage) {
		return func(key string, raw json.RawMessage) {
			if key == name {
				*cp, _ = scalar(key, raw)
			}
		}
	}
	switch f {
	case TEUpdates:
		d.arrayKey, d.elem, d.flat = "data", teEntry, true
	case TCAP:
		d.arrayKey, d.elem, d.topKey = "results", tcapEntry, checkpoint("checkpoint")
	case StopNCII:
		d.arrayKey, d.elem, d.topKey = "hashRecords", stopNCIIEntry, checkpoint("nextSetTimestamp")
	}
	return d
}

func (d *jsonDecoder) next() (Record, error) {
	for {
		switch {
		case d.inArr:
			if d.more() {
				var raw json.RawMessage
				if err := d.decode(&raw); err != nil {
					return Record{}, err
				}
				// The element starts after the comma that More stops at.
				return d.record(raw, d.cr.line(d.dec.InputOffset()-int64(len(raw))))
			}
			if err := d.end(']'); err != nil {
				return Record{}, err
			}
			d.inArr = false
		case d.inObj:
			if !d.more() {
				if err := d.end('}'); err != nil {
					return Record{}, err
				}
				d.inObj = false
				if fields := d.fields; len(fields) > 0 && !d.sawArr {
					d.fields = nil
					raw, err := json.Marshal(fields)
					if err != nil {
						return Record{}, err
					}
					return d.record(raw, d.objLine)
				}
				continue
			}
			tok, err := d.token()
			if err != nil {
				return Record{}, err
			}
			key, _ := tok.(string)
			if key == d.arrayKey {
				if tok, err = d.token(); err != nil {
					return Record{}, err
				}
				switch tok {
				case json.Delim('['):
					d.inArr, d.sawArr = true, true
				case nil: // null: no records
				default:
					return Record{}, fmt.Errorf("line %d: %q holds %v, want an array", d.cr.line(d.dec.InputOffset()), key, tok)
				}
				continue
			}
			var raw json.RawMessage
			if err := d.decode(&raw); err != nil {
				return Record{}, err
			}
			switch {
			case d.flat && key != "paging":
				if d.fields == nil {
					d.fields, d.fieldBytes = map[string]json.RawMessage{}, 0
				}
				if d.fieldBytes += int64(len(key) + len(raw)); d.fieldBytes > d.cr.limit-recordSlack {
					return Record{}, d.cr.tooLong(d.objLine)
				}
				d.fields[key] = raw
			case d.topKey != nil:
				d.topKey(key, raw)
			}
		default:
			d.dec.More() // skip space, so that the line is the object's
			line := d.cr.line(d.dec.InputOffset())
			d.cr.mark = d.dec.InputOffset()
			tok, err := d.dec.Token()
			switch {
			case err == io.EOF:
				return Record{}, io.EOF
			case err != nil:
				return Record{}, d.fail(err)
			case tok != json.Delim('{'):
				return Record{}, fmt.Errorf("line %d: %v at the top level, want an object", line, tok)
			}
			d.inObj, d.sawArr, d.objLine, d.fields = true, false, line, nil
		}
	}
}

// more reports whether the current array or object has another element.
func (d *jsonDecoder) more() bool {
	d.cr.mark = d.dec.InputOffset()
	return d.dec.More()
}

// end reads the delimiter that closes the current array or object, once
// more has returned false.
func (d *jsonDecoder) end(delim json.Delim) error {
	tok, err := d.token()
	if err == nil && tok != delim {
		err = fmt.Errorf("line %d: %v where %v was wanted", d.cr.line(d.dec.InputOffset()), tok, delim)
	}
	return err
}

// token returns the next token inside the top-level object.
func (d *jsonDecoder) token() (json.Token, error) {
	d.cr.mark = d.dec.InputOffset()
	tok, err := d.dec.Token()
	if err != nil {
		return nil, d.fail(err)
	}
	return tok, nil
}

// decode decodes the next value inside the top-level object.
func (d *jsonDecoder) decode(v any) error {
	d.cr.mark = d.dec.InputOffset()
	if err := d.dec.Decode(v); err != nil {
		return d.fail(err)
	}
	return nil
}

// fail returns the fatal error for err, met inside a top-level object.
func (d *jsonDecoder) fail(err error) error {
	var se *json.SyntaxError
	at := d.cr.mark
	switch {
	case errors.Is(err, errTooLong):
		return d.cr.tooLong(d.cr.line(at))
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		err, at = io.ErrUnexpectedEOF, max(at, d.cr.off-1) // the last byte
	case errors.As(err, &se) && se.Offset > at:
		at = se.Offset
	}
	return fmt.Errorf("line %d: %w", d.cr.line(at), err)
}

// record returns the record of the element raw, which starts at line.
func (d *jsonDecoder) record(raw json.RawMessage, line int) (Record, error) {
	e, err := d.elem(raw)
	if err != nil {
		return Record{}, lineErr(line, err)
	}
	rec, err := e.record()
	if err != nil {
		return Record{}, lineErr(line, err)
	}
	rec.Line = line
	return rec, nil
}

// unmarshal decodes one record, with an error that reads as a reason.
func unmarshal(raw []byte, v any) error {
	err := json.Unmarshal(raw, v)
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te) && te.Field == "":
		return fmt.Errorf("record is a JSON %s, want an object", te.Value)
	case errors.As(err, &te):
		return fmt.Errorf("%s is a JSON %s, want %v", te.Field, te.Value, te.Type)
	case errors.As(err, &se):
		return fmt.Errorf("not JSON: %v", se)
	}
	return fmt.Errorf("not a record: %v", err) // an error of an UnmarshalJSON method
}

// scalar returns a JSON string or number as a string: "" for null or a
// missing value.
func scalar(name string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil
	case raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9':
		return string(raw), nil
	}
	return "", fmt.Errorf("%s is %s, want a string or a number", name, clip(string(raw)))
}

// timeField parses the time in the field called name (see parseTime).
func timeField(name string, raw json.RawMessage) (time.Time, error) {
	s, err := scalar(name, raw)
	if err != nil {
		return time.Time{}, err
	}
	return parseTime(name, s)
}

// idField returns the record's own id from the field called name.
func idField(name string, raw json.RawMessage) (string, error) {
	id, err := scalar(name, raw)
	if err == nil && id == "" {
		err = fmt.Errorf("missing %s", name)
	}
	return id, err
}

// teUpdate is a ThreatExchange threat_updates object. The writer uses it
// too.
type teUpdate struct {
	ID           json.RawMessage `json:"id"`
	Indicator    string          `json:"indicator,omitempty"`
	Type         string          `json:"type,omitempty"`
	ShouldDelete bool            `json:"should_delete"`
	Tags         []string        `json:"tags,omitempty"`
	CreationTime json.RawMessage `json:"creation_time,omitempty"`
	LastUpdated  json.RawMessage `json:"last_updated,omitempty"`
	Descriptors  *teDescriptors  `json:"descriptors,omitempty"`
}

type teDescriptors struct {
	Data []teDescriptor `json:"data"`
}

type teDescriptor struct {
	Confidence   json.RawMessage `json:"confidence,omitempty"`
	ReviewStatus string          `json:"review_status,omitempty"`
	Owner        *teOwner        `json:"owner,omitempty"`
	Status       string          `json:"status,omitempty"`
	ShareLevel   string          `json:"share_level,omitempty"`
}

type teOwner struct {
	Name string `json:"name"`
}

// teEntry reads a threat_updates object. The first descriptor gives the
// partner (its owner) and the labels status, share_level, review_status
// and confidence; later descriptors are ignored.
func teEntry(raw json.RawMessage) (entry, error) {
	var u teUpdate
	if err := unmarshal(raw, &u); err != nil {
		return entry{}, err
	}
	id, err := idField("id", u.ID)
	if err != nil {
		return entry{}, err
	}
	e := entry{id: id, hashes: []typedHash{named(u.Type, u.Indicator)}, delete: u.ShouldDelete, tags: u.Tags}
	if e.first, err = timeField("creation_time", u.CreationTime); err != nil {
		return entry{}, err
	}
	if e.updated, err = timeField("last_updated", u.LastUpdated); err != nil {
		return entry{}, err
	}
	if u.Descriptors != nil && len(u.Descriptors.Data) > 0 {
		d := u.Descriptors.Data[0]
		if d.Owner != nil {
			e.partner = d.Owner.Name
		}
		conf, err := scalar("confidence", d.Confidence)
		if err != nil {
			return entry{}, err
		}
		e.labels.set("confidence", conf)
		e.labels.set("review_status", d.ReviewStatus)
		e.labels.set("status", d.Status)
		e.labels.set("share_level", d.ShareLevel)
	}
	return e, nil
}

// tcapResult is one element of a TCAP list's results.
type tcapResult struct {
	ID         json.RawMessage `json:"id"`
	HashDigest string          `json:"hash_digest"`
	Algorithm  string          `json:"algorithm"`
	Ideology   string          `json:"ideology"`
	FileType   string          `json:"file_type"`
	Deleted    bool            `json:"deleted"`
	CreatedOn  json.RawMessage `json:"created_on"`
	UpdatedOn  json.RawMessage `json:"updated_on"`
}

// videoFileTypes are the file types (TCAP file_type) of videos.
var videoFileTypes = map[string]bool{
	"mp4": true, "webm": true, "mov": true, "mkv": true, "avi": true, "flv": true, "wmv": true,
	"m4v": true, "3gp": true, "mpg": true, "mpeg": true, "ts": true, "ogv": true,
}

// tcapEntry reads a TCAP result: labels ideology and file_type, the file
// type as Media.Format (lowercase), a video if it is a video file type.
func tcapEntry(raw json.RawMessage) (entry, error) {
	var r tcapResult
	if err := unmarshal(raw, &r); err != nil {
		return entry{}, err
	}
	id, err := idField("id", r.ID)
	if err != nil {
		return entry{}, err
	}
	ft := strings.ToLower(strings.TrimSpace(r.FileType))
	e := entry{id: id, hashes: []typedHash{named(r.Algorithm, r.HashDigest)}, delete: r.Deleted,
		video: videoFileTypes[ft], format: ft}
	if e.first, err = timeField("created_on", r.CreatedOn); err != nil {
		return entry{}, err
	}
	if e.updated, err = timeField("updated_on", r.UpdatedOn); err != nil {
		return entry{}, err
	}
	e.labels.set("ideology", r.Ideology)
	e.labels.set("file_type", r.FileType)
	return e, nil
}

// stopNCIIRecord is one element of StopNCII's hashRecords.
type stopNCIIRecord struct {
	LastMod    json.RawMessage `json:"lastModtimestamp"`
	SignalType string          `json:"signalType"`
	HashValue  string          `json:"hashValue"`
	HashStatus string          `json:"hashStatus"`
}

// stopNCIIEntry reads a StopNCII hash record: a retraction if hashStatus
// is given and is not "Active", label status. caseNumbers and
// CSPFeedbacks are not kept.
func stopNCIIEntry(raw json.RawMessage) (entry, error) {
	var r stopNCIIRecord
	if err := unmarshal(raw, &r); err != nil {
		return entry{}, err
	}
	e := entry{hashes: []typedHash{named(r.SignalType, r.HashValue)},
		delete: r.HashStatus != "" && !strings.EqualFold(r.HashStatus, "active")}
	var err error
	if e.updated, err = timeField("lastModtimestamp", r.LastMod); err != nil {
		return entry{}, err
	}
	e.labels.set("status", r.HashStatus)
	return e, nil
}
