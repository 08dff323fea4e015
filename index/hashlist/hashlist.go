package hashlist

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Format names a hash-list format. Its string form is what the command line
// and Source.Format use.
type Format string

// The formats.
const (
	Lines     Format = "lines"      // python-threatexchange local file: "<hex>" or "<signal_type> <hex>" per line
	PDQRef    Format = "pdq"        // PDQ reference hasher output "hash,quality,filename"
	TECSV     Format = "te-csv"     // python-threatexchange dataset CSV, header signal_type,signal_str,collab,category,tags
	TESimple  Format = "te-simple"  // ThreatExchange simple CSV, header indicator,indicator_id,first_descriptor_id,added_on,labels
	TEUpdates Format = "te-updates" // ThreatExchange threat_updates JSON: one object per line, or {"data":[...],"paging":...} pages
	TCAP      Format = "tcap"       // TCAP hash-list JSON {"count","checkpoint","results":[...]}
	NCMEC     Format = "ncmec"      // NCMEC hash-sharing XML
	StopNCII  Format = "stopncii"   // StopNCII JSON {"hashRecords":[...]}
	VPDQ      Format = "vpdq"       // vPDQ per-frame file: the whole file is one video item
	JSONL     Format = "jsonl"      // mediamatch's own JSON lines, full fidelity
)

// Formats returns every format in a fixed order.
func Formats() []Format {
	return []Format{Lines, PDQRef, TECSV, TESimple, TEUpdates, TCAP, NCMEC, StopNCII, VPDQ, JSONL}
}

// ParseFormat returns the format named s. It returns an error wrapping
// ErrUnknownFormat, listing the names, for any other s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, 0, len(Formats()))
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("%w %q, want one of %s", ErrUnknownFormat, clip(s), strings.Join(names, ", "))
}

// DefaultQuality is the quality given to PDQ hashes listed without one.
const DefaultQuality = 100

// Errors of the package, wrapped with detail; test with errors.Is.
var (
	// ErrUnknownFormat is returned by Detect when no format fits the
	// input, and by NewReader, NewWriter and ParseFormat for a format
	// name they do not know.
	ErrUnknownFormat = errors.New("hashlist: unknown format")
	// ErrCannotWrite is returned by NewWriter for a format that can be
	// read but not written (tcap, ncmec, stopncii).
	ErrCannotWrite = errors.New("hashlist: format cannot be written")
	// ErrNotRepresentable is returned by Writer.Write for an item that the
	// format cannot carry (no hash of a type it holds; a second item or an
	// image in a vpdq file). Nothing of the item is written and the writer
	// stays usable.
	ErrNotRepresentable = errors.New("hashlist: item cannot be written in this format")
)

// Error is a list that cannot be read, or an item that cannot be written,
// as asked: from Detect and Writer.Write (Kind ErrUnknownFormat,
// ErrNotRepresentable), and the fatal error of Reader.Next (no Kind, the
// decoder's error in Err). A bad record is a *LineError instead.
//
// Its text is "hashlist: ", Kind's words or the format, and Reason.
// Reason alone says what was seen and what was wanted, for a caller that
// gives its own context; errors.Is sees Kind and Err.
type Error struct {
	Kind   error  // ErrUnknownFormat, ErrNotRepresentable; nil for a broken list
	Format Format // the list's format, if known
	Reason string // what was seen and what was wanted, without a prefix
	Err    error  // the cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error() + ": ")
	} else {
		b.WriteString("hashlist: ")
	}
	if e.Format != "" {
		b.WriteString(string(e.Format) + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns Kind and Err, those that are set.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// unknownFormat returns an *Error of kind ErrUnknownFormat.
func unknownFormat(format string, args ...any) error {
	return &Error{Kind: ErrUnknownFormat, Reason: fmt.Sprintf(format, args...)}
}

// notRepresentable returns an *Error of kind ErrNotRepresentable in format
// f with the reason format and args make; a cause among args (%v) is
// kept as Err.
func notRepresentable(f Format, cause error, format string, args ...any) error {
	return &Error{Kind: ErrNotRepresentable, Format: f, Reason: fmt.Sprintf(format, args...), Err: cause}
}

// Record is one entry of a hash list: an item to put, or the retraction of
// one.
type Record struct {
	// Line is the 1-based line of the record: its line in a line format,
	// the line where the record starts in a JSON or XML document, the
	// first frame's line in a vPDQ file.
	Line int
	// Delete marks a retraction (te-updates should_delete, TCAP deleted,
	// NCMEC <deletedImage>/<deletedVideo>, StopNCII hashStatus other than
	// Active, jsonl "delete"): remove the item Item.ID. Only Item.ID and
	// Item.Source are set then.
	Delete bool
	// Item is the item. ID, Labels, Media and Source are set; Bank is left
	// empty for the importer to set, except in jsonl, which carries it
	// (the importer decides which to use).
	Item mediamatch.Item
}

// LineError is a bad record: its line and what was wrong with it. The
// reader that returned it can go on with the next record.
type LineError struct {
	Line   int
	Reason string
	// Err is the index's error for a record the reader read but the index
	// refused (Import); nil for a record the reader refused.
	Err error
}

// Error returns "line N: reason".
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Unwrap returns Err.
func (e *LineError) Unwrap() error { return e.Err }

// lineErr returns a *LineError for line n with err's text as the reason.
func lineErr(n int, err error) *LineError { return &LineError{Line: n, Reason: err.Error()} }

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
