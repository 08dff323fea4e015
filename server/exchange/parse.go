package exchange

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mediamatch/mediamatch/index/hashlist"
)

// parsed is a body read by hashlist: its records and the bad ones.
type parsed struct {
	records    []hashlist.Record
	rejected   int
	bad        []*hashlist.LineError
	lastBad    int    // the line of the last bad record
	checkpoint string // hashlist.Reader.Checkpoint
}

// parse reads body, a list in format f, whole: every record, or an
// *Error wrapping ErrBadPage (op names the request) if the list is broken
// anywhere, so that a page is all or nothing.
func (f *Fetcher) parse(op string, body []byte, format hashlist.Format) (parsed, error) {
	var p parsed
	rd, err := hashlist.NewReader(bytes.NewReader(body), format, hashlist.ReaderOptions{Partner: f.cfg.Partner})
	if err != nil {
		return p, &Error{Kind: ErrConfig, Op: op, Reason: f.red.clean(err.Error())}
	}
	// A page is held whole: size it once rather than grow (and copy)
	// a slice of large records many times.
	switch format {
	case hashlist.TEUpdates, hashlist.TCAP, hashlist.StopNCII, hashlist.NCMEC:
	default: // a record a line
		p.records = make([]hashlist.Record, 0, bytes.Count(body, []byte("\n"))+1)
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		var le *hashlist.LineError
		switch {
		case errors.As(err, &le):
			p.rejected++
			p.lastBad = le.Line
			if len(p.bad) < MaxBadRecords {
				p.bad = append(p.bad, &hashlist.LineError{Line: le.Line, Reason: f.red.clean(le.Reason)})
			}
			continue
		case err != nil:
			return parsed{}, &Error{Kind: ErrBadPage, Op: op, Reason: f.red.clean(err.Error())}
		}
		p.records = append(p.records, rec)
	}
	p.checkpoint = rd.Checkpoint()
	return p, nil
}

// envelope decodes the fields of a JSON page other than its records
// (paging, cursors) into v, which names only those: encoding/json skips
// the rest. It returns an *Error wrapping ErrBadPage if body is not a
// JSON object.
func (f *Fetcher) envelope(op string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Kind: ErrBadPage, Op: op, Reason: f.red.clean(fmt.Sprintf("not the JSON page wanted: %v", err))}
	}
	return nil
}

// page returns the Page of p with checkpoint cp.
func (p parsed) page(cp Checkpoint, more bool) Page {
	return Page{Records: p.records, Checkpoint: cp, More: more, Rejected: p.rejected, Bad: p.bad}
}
