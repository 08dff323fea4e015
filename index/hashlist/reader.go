package hashlist

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// ReaderOptions tune a Reader. The zero value is ready to use.
type ReaderOptions struct {
	// Partner is the Source.Partner of records whose list does not name
	// one (lines, pdq, te-simple, tcap, stopncii, vpdq; te-csv without a
	// collab, te-updates without a descriptor owner, NCMEC without a
	// member name).
	Partner string
	// MaxLineBytes bounds a line of a line format, and one record of a
	// JSON or XML document; 0 means 1 MiB. A longer line is a *LineError;
	// a longer JSON or XML record is fatal.
	MaxLineBytes int
	// ID is the item id of a vpdq file; empty means one derived from its
	// frames. Other formats ignore it.
	ID string
	// SignalType is the type of hashes listed without one (lines with a
	// hash alone, te-simple, whose type is in its file name, e.g.
	// simple.HASH_PDQ.te), in any of the names partners use ("pdq",
	// "HASH_PDQ", "video_md5", ...). Empty means by length: 32 hex digits
	// are MD5, anything else PDQ.
	SignalType string
}

// defaultMaxLine is ReaderOptions.MaxLineBytes's default.
const defaultMaxLine = 1 << 20

// decoder reads the records of one format. next returns a *LineError for a
// bad record and can be called again after it; any other error is fatal.
type decoder interface {
	next() (Record, error)
}

// Reader reads the records of a hash list. It is not safe for concurrent
// use.
type Reader struct {
	format     Format
	opts       ReaderOptions
	br         *bufio.Reader
	started    bool // the byte order mark is dealt with
	dec        decoder
	checkpoint string
	err        error // fatal error, returned by every call once set
}

// bom is the UTF-8 byte order mark.
var bom = []byte{0xef, 0xbb, 0xbf}

// NewReader returns a Reader of the list in format f read from r; it reads
// nothing until the first call of Next. It returns an error wrapping
// ErrUnknownFormat for an unknown f, and an error for bad options (a
// negative MaxLineBytes, an unknown or unsupported SignalType, an ID the
// index refuses).
func NewReader(r io.Reader, f Format, opts ReaderOptions) (*Reader, error) {
	if _, err := ParseFormat(string(f)); err != nil {
		return nil, err
	}
	if opts.MaxLineBytes < 0 {
		return nil, fmt.Errorf("hashlist: MaxLineBytes %d, want 0 or more", opts.MaxLineBytes)
	}
	if opts.MaxLineBytes == 0 {
		opts.MaxLineBytes = defaultMaxLine
	}
	var spec typeSpec
	if opts.SignalType != "" {
		var err error
		if spec, err = lookupType(opts.SignalType); err != nil {
			return nil, fmt.Errorf("hashlist: ReaderOptions.SignalType: %v", err)
		}
	}
	if opts.ID != "" {
		if err := mediamatch.ValidateItemID("ReaderOptions.ID", opts.ID); err != nil {
			return nil, fmt.Errorf("hashlist: %w", err)
		}
	}
	size := 64 << 10
	switch f {
	case TEUpdates, TCAP, StopNCII, NCMEC:
	default: // a line must fit, with its "\r\n"
		size = max(size, opts.MaxLineBytes+2)
	}
	br := bufio.NewReaderSize(r, size)
	rd := &Reader{format: f, opts: opts, br: br}
	lr := &lineReader{br: br, max: opts.MaxLineBytes}
	switch f {
	case Lines:
		rd.dec = &lineDecoder{lr: lr, row: func(s string) (Record, error) { return parseLinesRow(s, spec) }}
	case PDQRef:
		rd.dec = &lineDecoder{lr: lr, row: parsePDQRefRow}
	case TECSV:
		rd.dec = &lineDecoder{lr: lr, header: &csvHeader{format: f, want: teCSVColumns}}
	case TESimple:
		rd.dec = &lineDecoder{lr: lr, header: &csvHeader{format: f, want: teSimpleColumns, spec: spec}}
	case JSONL:
		rd.dec = &lineDecoder{lr: lr, row: parseJSONLRow}
	case VPDQ:
		rd.dec = &vpdqDecoder{lr: lr, id: opts.ID}
	case TEUpdates, TCAP, StopNCII:
		rd.dec = newJSONDecoder(f, br, opts.MaxLineBytes, &rd.checkpoint)
	case NCMEC:
		rd.dec = newNCMECDecoder(br, opts.MaxLineBytes)
	}
	return rd, nil
}

// Format returns the format the reader reads.
func (r *Reader) Format() Format { return r.format }

// Checkpoint returns where an incremental pull of the list resumes, as the
// list gives it: TCAP's "checkpoint", StopNCII's "nextSetTimestamp"; empty
// for other formats or until the reader has read past it (it is certain
// once Next has returned io.EOF).
func (r *Reader) Checkpoint() string { return r.checkpoint }

// Next returns the next record, or io.EOF at the end of the list. A bad
// record is returned as a *LineError (test with errors.As) and the next
// call goes on after it. Any other error is fatal: reading failed or the
// list is broken beyond recovery, and every later call returns it again.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	if !r.started {
		r.started = true
		if b, err := r.br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
			r.br.Discard(len(bom))
		}
	}
	rec, err := r.dec.next()
	var le *LineError
	switch {
	case errors.As(err, &le):
		return Record{}, err
	case err == io.EOF:
		r.err = io.EOF
		return Record{}, err
	case err != nil:
		r.err = &Error{Format: r.format, Reason: err.Error(), Err: err}
		return Record{}, r.err
	}
	if err := r.finish(&rec); err != nil {
		return Record{}, lineErr(rec.Line, err)
	}
	return rec, nil
}

// finish fills in the record's provenance and checks it as the index will.
func (r *Reader) finish(rec *Record) error {
	it := &rec.Item
	if r.format != JSONL {
		if it.Source == nil {
			it.Source = &mediamatch.Source{}
		}
		it.Source.Format = string(r.format)
		if it.Source.Partner == "" {
			it.Source.Partner = r.opts.Partner
		}
	}
	return mediamatch.ValidateItem("item", *it)
}

// lineReader reads the lines of a line format.
type lineReader struct {
	br  *bufio.Reader // buffer of at least max+2 bytes
	max int
	n   int // number of the last line read
}

// next returns the next line that is neither blank nor a comment, without
// its line end and surrounding space, and its number. A line over max
// bytes is a *LineError; the next call reads the line after it.
func (l *lineReader) next() (string, int, error) {
	for {
		b, err := l.br.ReadSlice('\n')
		if len(b) == 0 && err == io.EOF {
			return "", 0, io.EOF
		}
		l.n++
		switch {
		case err == bufio.ErrBufferFull:
			n, err := l.skip(b)
			if err != nil {
				return "", 0, err
			}
			return "", l.n, &LineError{Line: l.n, Reason: fmt.Sprintf("%d bytes, want at most %d", n, l.max)}
		case err != nil && err != io.EOF:
			return "", 0, err
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(b) > l.max {
			return "", l.n, &LineError{Line: l.n, Reason: fmt.Sprintf("%d bytes, want at most %d", len(b), l.max)}
		}
		b = bytes.TrimSpace(b)
		if len(b) > 0 && b[0] != '#' {
			return string(b), l.n, nil
		}
	}
}

// skip reads the rest of a line that did not fit the buffer, whose first
// part is b, and returns the line's length without its line end.
func (l *lineReader) skip(b []byte) (int, error) {
	n, prev := 0, byte(0)
	for {
		n += len(b)
		if k := len(b); k > 0 && b[k-1] == '\n' {
			if k > 1 {
				prev = b[k-2]
			}
			if n--; prev == '\r' {
				n--
			}
			return n, nil
		} else if k > 0 {
			prev = b[k-1]
		}
		var err error
		b, err = l.br.ReadSlice('\n')
		switch {
		case err == io.EOF:
			return n + len(b), nil
		case err != nil && err != bufio.ErrBufferFull:
			return 0, err
		}
	}
}

// lineDecoder reads a line format: one record per line, after a header
// line in the CSV formats.
type lineDecoder struct {
	lr     *lineReader
	header *csvHeader // nil for formats without one
	row    func(line string) (Record, error)
}

func (d *lineDecoder) next() (Record, error) {
	for {
		line, n, err := d.lr.next()
		if err != nil {
			return Record{}, err
		}
		if d.row == nil { // the header is the first line
			if err := d.header.parse(line); err != nil {
				return Record{}, fmt.Errorf("line %d: %w", n, err)
			}
			d.row = d.header.row
			continue
		}
		rec, err := d.row(line)
		if err != nil {
			return Record{}, lineErr(n, err)
		}
		rec.Line = n
		return rec, nil
	}
}
