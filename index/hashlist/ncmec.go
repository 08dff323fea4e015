package hashlist

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// This file reads NCMEC's hash-sharing XML with encoding/xml's token API,
// decoding one <image>, <video>, <deletedImage> or <deletedVideo> at a
// time wherever it sits (normally queryResult/images and queryResult/videos).

// maxXMLDepth bounds the nesting of elements around the records.
const maxXMLDepth = 64

// ncmecDecoder reads an NCMEC document.
type ncmecDecoder struct {
	dec   *xml.Decoder
	cr    *countingReader
	depth int
}

func newNCMECDecoder(r io.Reader, max int) *ncmecDecoder {
	cr := &countingReader{r: r, limit: int64(max) + recordSlack}
	return &ncmecDecoder{dec: xml.NewDecoder(cr), cr: cr}
}

// ncmecEntry is one <image>, <video>, <deletedImage> or <deletedVideo>.
type ncmecEntry struct {
	Member struct {
		ID   string `xml:"id,attr"`
		Name string `xml:",chardata"`
	} `xml:"member"`
	Timestamp      string `xml:"timestamp"`
	ID             string `xml:"id"`
	Classification string `xml:"classification"`
	Fingerprints   struct {
		Any []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	} `xml:"fingerprints"`
}

func (d *ncmecDecoder) next() (Record, error) {
	for {
		d.cr.mark = d.dec.InputOffset()
		tok, err := d.dec.Token()
		if err == io.EOF {
			return Record{}, io.EOF
		}
		if err != nil {
			return Record{}, d.fail(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "image", "video", "deletedImage", "deletedVideo":
				line, _ := d.dec.InputPos()
				var x ncmecEntry
				if err := d.dec.DecodeElement(&x, &t); err != nil {
					return Record{}, d.fail(err)
				}
				rec, err := x.record(t.Name.Local)
				if err != nil {
					return Record{}, lineErr(line, err)
				}
				rec.Line = line
				return rec, nil
			}
			if d.depth++; d.depth > maxXMLDepth {
				line, _ := d.dec.InputPos()
				return Record{}, fmt.Errorf("line %d: elements nested more than %d deep", line, maxXMLDepth)
			}
		case xml.EndElement:
			d.depth--
		}
	}
}

// fail returns the fatal error for err.
func (d *ncmecDecoder) fail(err error) error {
	line, _ := d.dec.InputPos()
	if errors.Is(err, errTooLong) {
		return d.cr.tooLong(line)
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return err // says the line itself
	}
	return fmt.Errorf("line %d: %w", line, err)
}

// record reads an entry whose element is called elem. The member's name is
// the partner; labels classification and member_id; the timestamp is
// Source.FirstSeen. Fingerprints of types mediamatch does not store (sha1,
// pdna, ...) are left out.
func (x *ncmecEntry) record(elem string) (Record, error) {
	e := entry{id: strings.TrimSpace(x.ID), partner: strings.TrimSpace(x.Member.Name),
		delete: strings.HasPrefix(elem, "deleted"), video: strings.HasSuffix(elem, "ideo")}
	if e.id == "" {
		return Record{}, errors.New("missing <id>")
	}
	var err error
	if e.first, err = parseTime("timestamp", x.Timestamp); err != nil {
		return Record{}, err
	}
	for _, f := range x.Fingerprints.Any {
		e.hashes = append(e.hashes, named(f.XMLName.Local, strings.TrimSpace(f.Value)))
	}
	e.labels.set("classification", strings.TrimSpace(x.Classification))
	e.labels.set("member_id", strings.TrimSpace(x.Member.ID))
	return e.record()
}
