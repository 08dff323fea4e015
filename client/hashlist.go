package client

import (
	"context"
	"errors"
	"io"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// ImportOptions say how the server reads a partner's hash list. The zero
// value detects the format and fails on the first bad record.
type ImportOptions struct {
	// Format is the list's format ("lines", "pdq", "te-csv", "te-simple",
	// "te-updates", "tcap", "ncmec", "stopncii", "vpdq", "jsonl"); empty
	// lets the server detect it from the first bytes.
	Format string
	// SkipInvalid imports the valid records and counts the bad ones
	// (ImportResult.Rejected) instead of failing.
	SkipInvalid bool
	// Partner is recorded in each item's Source for lists that do not name
	// their partner.
	Partner string
	// ItemID is the item id of a vpdq list (a file of one video); empty
	// means one derived from its frames.
	ItemID string
	// Progress, if set, is called after each chunk is sent with the bytes
	// sent so far, from the goroutine that called Import.
	Progress func(sentBytes int64)
}

// ImportResult says what an import did.
type ImportResult struct {
	// Format is the format the server read: as given, or detected.
	Format string
	// Detected is true when ImportOptions.Format was empty.
	Detected bool
	// Added, Updated and Deleted count the items the list added, changed
	// (signals, labels or source) and removed; Unchanged the records the
	// bank held already (and deletes of absent items).
	Added, Updated, Deleted, Unchanged int64
	// Rejected counts the bad records skipped (ImportOptions.SkipInvalid);
	// Errors lists the first 100 of them: "line 12: ...".
	Rejected int64
	Errors   []string
}

// Import streams a partner's hash list read from r into a bank, in
// constant memory whatever its length. The import is all or nothing: the
// bank changes only if the whole list is read, and matches see it change
// at once; re-importing a list changes nothing. Without SkipInvalid a list
// with bad records fails with ErrInvalidArgument, and the *Error's
// Violations list the first 100 ("line 12: ..."); an unknown bank fails
// with ErrNotFound. Cancelling ctx mid-stream leaves the bank as it was.
// Errors reading r are returned as they are.
func (c *Client) Import(ctx context.Context, bank string, r io.Reader, opts ImportOptions) (ImportResult, error) {
	ctx, cancel := context.WithCancel(ctx) // ends the stream on a read error
	defer cancel()
	stream, err := c.bank.ImportSignals(ctx)
	if err != nil {
		return ImportResult{}, fromRPC(err)
	}
	var sent int64
	err = c.send(r, func(chunk []byte, first bool) error {
		m := &pb.ImportSignalsRequest{Chunk: chunk}
		if first {
			m.Bank, m.Format, m.SkipInvalid, m.Partner, m.ItemId = bank, opts.Format, opts.SkipInvalid, opts.Partner, opts.ItemID
		}
		if err := stream.Send(m); err != nil {
			return err
		}
		sent += int64(len(chunk))
		if opts.Progress != nil {
			opts.Progress(sent)
		}
		return nil
	})
	if err != nil {
		return ImportResult{}, err // cancel (deferred) ends the stream: the server drops what it staged
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return ImportResult{}, fromRPC(err)
	}
	st := pb.ImportStatsFromProto(resp)
	return ImportResult{
		Format:    resp.GetFormat(),
		Detected:  opts.Format == "",
		Added:     st.Added,
		Updated:   st.Updated,
		Deleted:   st.Deleted,
		Unchanged: st.Unchanged,
		Rejected:  resp.GetRejected(),
		Errors:    resp.GetErrors(),
	}, nil
}

// Export writes a bank's items to w in a hash-list format: "jsonl" (the
// default for "", with every field, for re-import), or a partner format
// ("lines", "pdq", "te-csv", "te-simple", "te-updates", or "vpdq" for a
// bank of one video), which carries only what it can hold. progress, if
// set, is called with the items written so far as chunks arrive. An
// unknown or read-only format fails with ErrInvalidArgument (the message
// lists the formats that can be written), an unknown bank with
// ErrNotFound; a failed write to w is returned as it is, and what was
// written before an error stays written.
func (c *Client) Export(ctx context.Context, bank, format string, w io.Writer, progress func(items int64)) error {
	ctx, cancel := context.WithCancel(ctx) // ends the stream on a write error
	defer cancel()
	stream, err := c.bank.ExportSignals(ctx, &pb.ExportSignalsRequest{Bank: bank, Format: format})
	if err != nil {
		return fromRPC(err)
	}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fromRPC(err)
		}
		if _, err := w.Write(m.GetChunk()); err != nil {
			return err
		}
		if progress != nil {
			progress(m.GetItems())
		}
	}
}
