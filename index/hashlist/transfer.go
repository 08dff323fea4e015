package hashlist

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index"
)

// This file is the import and export workflows, whatever carries the list
// (the gRPC ImportSignals and ExportSignals calls stream it): Import reads
// a list through a Reader and stages one record at a time into an
// index.Import, Export pages through a bank and writes it through a
// Writer. Both take constant memory whatever the length of the list.

// Importer begins an import into a bank: *index.Index satisfies it.
type Importer interface {
	BeginImport(ctx context.Context, bank string) (*index.Import, error)
}

// BankReader reads a bank's items a page at a time: *index.Index
// satisfies it.
type BankReader interface {
	GetBank(ctx context.Context, name string) (mediamatch.Bank, error)
	ListItems(ctx context.Context, bank string, pageSize int, pageToken string) ([]mediamatch.Item, string, error)
}

// Limits of Import and Export.
const (
	// DetectBytes is how much of a list Import reads to detect its format.
	DetectBytes = 64 << 10
	// MaxBadRecords is how many bad records Import reports by line.
	MaxBadRecords = 100
	// ExportPageSize is how many items Export reads from the index at a time.
	ExportPageSize = index.MaxPageSize
)

// ImportOptions say how Import reads a list. The zero value detects the
// format and refuses a list with any bad record.
type ImportOptions struct {
	// Format is the list's format; empty detects it from the first
	// DetectBytes bytes (see Detect).
	Format Format
	// SkipInvalid imports the good records of a list with bad ones, which
	// ImportResult counts and lists.
	SkipInvalid bool
	// Partner and ItemID are the reader's (ReaderOptions.Partner and ID);
	// an ItemID is for vpdq only.
	Partner, ItemID string
	// Token, if set, is the id of the token the import is made with: a
	// token revoked (or expired) while the list is read does not get it
	// applied (index.Import.RequireToken).
	Token string
	// Logger receives the error of dropping what was staged, after the
	// import failed; default discards.
	Logger *slog.Logger
}

// ImportResult says what an import did, or for a failed one how far it
// got.
type ImportResult struct {
	// Format is the list's format, as given or detected; empty if it
	// could not be detected.
	Format Format
	// Stats counts what the commit did to the bank.
	Stats mediamatch.ImportStats
	// Rejected counts the bad records; Bad holds the first MaxBadRecords
	// of them, in the order of the list.
	Rejected int64
	Bad      []*LineError
}

// Errors of Import, besides the index's and those of reading the list.
var (
	// ErrItemIDNotVPDQ is returned by Import for an ImportOptions.ItemID
	// given with a list whose format is not vpdq.
	ErrItemIDNotVPDQ = errors.New("hashlist: an item id is only for vpdq (a file of one video)")
)

// BrokenError is a list that cannot be read on (see Reader.Next: not well
// formed JSON or XML, a wrong CSV header, a record over the limit):
// nothing of it is imported.
type BrokenError struct {
	Format Format
	Err    error // the reader's error
}

// Error returns "hashlist: <format> list broken: <reader's error>".
func (e *BrokenError) Error() string {
	return fmt.Sprintf("hashlist: %s list broken: %v", e.Format, e.Err)
}

// Unwrap returns Err.
func (e *BrokenError) Unwrap() error { return e.Err }

// Reason returns what the reader saw and wanted, without a prefix.
func (e *BrokenError) Reason() string {
	if he, ok := errors.AsType[*Error](e.Err); ok {
		return he.Reason
	}
	return e.Err.Error()
}

// OptionsError is ImportOptions that NewReader refuses.
type OptionsError struct{ Err error }

func (e *OptionsError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *OptionsError) Unwrap() error { return e.Err }

// BadRecordsError is a list with bad records, imported without
// SkipInvalid: nothing of it is imported. ImportResult lists the records.
type BadRecordsError struct{ Count int64 }

// Error returns "hashlist: N bad records, nothing imported".
func (e *BadRecordsError) Error() string {
	noun := "records"
	if e.Count == 1 {
		noun = "record"
	}
	return fmt.Sprintf("hashlist: %d bad %s, nothing imported", e.Count, noun)
}

// Import reads a list from r and imports it into bank of dst, all or
// nothing: it begins an import, stages each record the reader returns,
// and commits once the whole list is read. A record the reader refuses
// (a *LineError) or the index refuses (mediamatch.ErrInvalid; the LineError's
// Err) is bad: without o.SkipInvalid the import then fails with a
// *BadRecordsError after the whole list is read, so that the result lists
// every bad record (the first MaxBadRecords); with it the good records are
// imported and the bad ones counted. Whatever ends the import before its
// commit (an error, ctx ending) drops what was staged.
//
// Errors: those of BeginImport and Commit (mediamatch.ErrNotFound for an
// unknown bank, ...); an error reading r, as it is; an error wrapping
// ErrUnknownFormat when o.Format is empty and the list's cannot be
// detected; ErrItemIDNotVPDQ; an *OptionsError; a *BrokenError; a
// *BadRecordsError. The result's Format is set as soon as it is known.
// Import is safe for concurrent use with other imports.
func Import(ctx context.Context, dst Importer, bank string, r io.Reader, o ImportOptions) (ImportResult, error) {
	var res ImportResult
	im, err := dst.BeginImport(ctx, bank)
	if err != nil {
		return res, err
	}
	if o.Token != "" {
		im.RequireToken(o.Token)
	}
	// After Commit, Abort is a no-op.
	defer func() {
		if err := im.Abort(); err != nil && o.Logger != nil {
			o.Logger.ErrorContext(ctx, "import abort", "err", err)
		}
	}()

	br := bufio.NewReaderSize(r, DetectBytes)
	res.Format = o.Format
	if res.Format == "" {
		head, err := br.Peek(DetectBytes)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return res, err
		}
		if res.Format, err = Detect(head); err != nil {
			return res, err
		}
		if o.ItemID != "" && res.Format != VPDQ {
			return res, fmt.Errorf("%w: %q given for a list detected as %s", ErrItemIDNotVPDQ, clip(o.ItemID), res.Format)
		}
	}
	rd, err := NewReader(br, res.Format, ReaderOptions{Partner: o.Partner, ID: o.ItemID})
	if err != nil {
		return res, &OptionsError{err}
	}
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *LineError
		switch {
		case errors.As(err, &le):
			res.bad(le)
			continue
		case err != nil:
			return res, &BrokenError{Format: res.Format, Err: err}
		}
		err = im.Add(ctx, index.ImportRecord{Item: rec.Item, Delete: rec.Delete, Line: rec.Line, IDFromHash: idFromHash(rec.Item)})
		switch {
		case errors.Is(err, mediamatch.ErrInvalid):
			res.bad(&LineError{Line: rec.Line, Reason: err.Error(), Err: err})
		case err != nil:
			return res, err
		}
	}
	if res.Rejected > 0 && !o.SkipInvalid {
		return res, &BadRecordsError{Count: res.Rejected}
	}
	if res.Stats, err = im.Commit(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// bad counts a bad record, and keeps it if it is one of the first
// MaxBadRecords.
func (r *ImportResult) bad(le *LineError) {
	if len(r.Bad) < MaxBadRecords {
		r.Bad = append(r.Bad, le)
	}
	r.Rejected++
}

// idFromHash reports whether its id is one the reader made from one of
// its hashes ("pdq-<hex>"), for lists that give no ids: records of the
// same hash then share the id without being two versions of one item.
// IDFromHash reports whether it's id was made from one of its hashes
// ("<signal type>-<hex>") because its list gave none: a later record of
// the same hash is the same hash listed again (index.ImportRecord's
// IDFromHash). Fetchers of exchanges make ids so too.
func IDFromHash(it mediamatch.Item) bool { return idFromHash(it) }

func idFromHash(it mediamatch.Item) bool {
	typ, hexHash, ok := strings.Cut(it.ID, "-")
	if !ok {
		return false
	}
	is := func(s mediamatch.Signal) bool { return string(s.Type) == typ && s.Hex() == hexHash }
	if slices.ContainsFunc(it.Media.FileSignals, is) {
		return true
	}
	for _, k := range it.Media.Keyframes {
		if slices.ContainsFunc(k.Signals, is) {
			return true
		}
	}
	return false
}

// Export writes the items of bank in src to w in format f, in id order,
// a page of ExportPageSize items at a time, and flushes the Writer at the
// end. Items that f cannot carry (ErrNotRepresentable) are skipped, as
// partner formats carry only what they can hold, except in vpdq, which
// holds one video: there the error is returned. progress, if set, is
// called with the count of items written so far after each item.
//
// Errors: those of NewWriter for f; mediamatch.ErrNotFound for an unknown bank,
// before anything is written; ErrNotRepresentable (wrapped) for vpdq; the
// index's errors; a failed write to w, as it is. What was written before
// an error stays written. It is safe for concurrent use if src is.
func Export(ctx context.Context, src BankReader, bank string, w io.Writer, f Format, progress func(items int64)) error {
	wr, err := NewWriter(w, f)
	if err != nil {
		return err
	}
	if _, err := src.GetBank(ctx, bank); err != nil {
		return err
	}
	var n int64
	token := ""
	for {
		items, next, err := src.ListItems(ctx, bank, ExportPageSize, token)
		if err != nil {
			return err
		}
		for _, it := range items {
			err := wr.Write(it)
			switch {
			case errors.Is(err, ErrNotRepresentable) && f == VPDQ:
				return err
			case errors.Is(err, ErrNotRepresentable):
				continue
			case err != nil:
				return err
			}
			n++
			if progress != nil {
				progress(n)
			}
		}
		if token = next; token == "" {
			break
		}
	}
	return wr.Close()
}

// WritableFormats returns the formats a Writer can write, in the order of
// Formats.
func WritableFormats() []Format {
	var out []Format
	for _, f := range Formats() {
		if _, err := NewWriter(io.Discard, f); err == nil {
			out = append(out, f)
		}
	}
	return out
}
