package server

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index/hashlist"
)

// ImportSignals and ExportSignals: partner hash lists in and out. The
// workflows are hashlist.Import and hashlist.Export; the handlers here
// validate the request, turn the request stream into an io.Reader (and
// the response stream into an io.Writer of 1 MiB chunks), and map the
// workflows' errors to the request's fields.

// Limits of ImportSignals and ExportSignals, as stated in bank.proto.
const (
	// MaxImportChunkBytes is the largest chunk of one ImportSignalsRequest.
	MaxImportChunkBytes = 4 << 20
	// exportChunkBytes is the largest chunk of one ExportSignalsResponse.
	exportChunkBytes = 1 << 20
	// defaultExportFormat is the export format when the request names none.
	defaultExportFormat = hashlist.JSONL
)

func (b *bankService) ImportSignals(stream pb.BankService_ImportSignalsServer) error {
	s, ctx := b.s, stream.Context()
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		first, err = &pb.ImportSignalsRequest{}, nil // no message at all: report the missing fields
	}
	if err != nil {
		return s.toStatus(ctx, err)
	}
	var vs violations
	checkBankName(&vs, "ImportSignalsRequest.bank", first.GetBank())
	var format hashlist.Format
	if f := first.GetFormat(); f != "" {
		var err error
		if format, err = hashlist.ParseFormat(f); err != nil {
			vs.add("ImportSignalsRequest.format", "%s, want one of %s, or empty to detect it", quote(f), formatNames(hashlist.Formats()))
		}
	}
	if p := first.GetPartner(); p != "" {
		vs.addErr("ImportSignalsRequest.partner", mediamatch.ValidateSource("ImportSignalsRequest", &mediamatch.Source{Partner: p}))
	}
	if id := first.GetItemId(); id != "" {
		checkItemID(&vs, "ImportSignalsRequest.item_id", id)
		if format != "" && format != hashlist.VPDQ {
			vs.add("ImportSignalsRequest.item_id", "%s given for format %s, want it only for vpdq (a file of one video)", quote(id), format)
		}
	}
	checkImportChunk(&vs, first.GetChunk(), 0)
	if err := vs.err(); err != nil {
		return s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "ImportSignalsRequest.bank", first.GetBank()); err != nil {
		return s.toStatus(ctx, err)
	}

	opts := hashlist.ImportOptions{Format: format, SkipInvalid: first.GetSkipInvalid(), Partner: first.GetPartner(),
		ItemID: first.GetItemId(), Logger: s.log}
	// A token revoked (or expired) while the list streams in does not get
	// it applied: the commit checks the token.
	if c := callerOf(ctx); c != nil && strings.HasPrefix(c.key, "tok_") {
		opts.Token = c.key
	}
	body := &chunkReader{recv: stream.Recv, buf: first.GetChunk()}
	res, err := hashlist.Import(ctx, s.lists, first.GetBank(), body, opts)
	if err != nil {
		return s.toStatus(ctx, importError(err, first, res, body))
	}
	resp := pb.ImportStatsToProto(res.Stats)
	resp.Format, resp.Rejected, resp.Errors = string(res.Format), res.Rejected, badLines(res.Bad)
	return stream.SendAndClose(resp)
}

// importError returns the error of a failed import as the request's: the
// stream's own error (or a chunk over the limit) when reading it failed,
// and the list's errors as violations of its fields.
func importError(err error, first *pb.ImportSignalsRequest, res hashlist.ImportResult, body *chunkReader) error {
	var (
		broken *hashlist.BrokenError
		opts   *hashlist.OptionsError
		bad    *hashlist.BadRecordsError
	)
	switch {
	case errors.As(err, &bad):
		return &badRecordsError{lines: badLines(res.Bad), count: bad.Count}
	case errors.As(err, &broken):
		if body.err != nil && !errors.Is(body.err, io.EOF) {
			return body.err // the stream failed, or a chunk is over the limit
		}
		return invalid("ImportSignalsRequest.chunk", "%s list broken, nothing imported: %s", broken.Format, broken.Reason())
	case errors.As(err, &opts):
		return invalid("ImportSignalsRequest", "%v", opts.Err)
	case errors.Is(err, hashlist.ErrItemIDNotVPDQ):
		return invalid("ImportSignalsRequest.item_id", "%s given for a list detected as %s, "+
			"want it only for vpdq (a file of one video)", quote(first.GetItemId()), res.Format)
	case errors.Is(err, hashlist.ErrUnknownFormat):
		return invalid("ImportSignalsRequest.format", "empty, and the list's format cannot be detected (%s); "+
			"want one of %s", hashlistReason(err), formatNames(hashlist.Formats()))
	}
	return err
}

// badLines returns the bad records of an import as the response lists
// them: "line 12: pdq hash has 63 hex digits, want 64".
func badLines(bad []*hashlist.LineError) []string {
	var out []string
	for _, le := range bad {
		if le.Err != nil { // refused by the index
			out = append(out, fmt.Sprintf("line %d: %s", le.Line, cleanText(le.Err.Error(), maxReason)))
		} else {
			out = append(out, le.Error())
		}
	}
	return out
}

// checkImportChunk checks the chunk of the i'th message of an import.
func checkImportChunk(vs *violations, chunk []byte, i int) {
	if n := len(chunk); n > MaxImportChunkBytes {
		vs.add("ImportSignalsRequest.chunk", "%d bytes in message %d, want at most %d (4 MiB) per message",
			n, i, MaxImportChunkBytes)
	}
}

// badRecordsError is a list with bad records, imported without
// skip_invalid. It maps to InvalidArgument listing the first bad records
// by line, each also a field violation of ImportSignalsRequest.chunk.
type badRecordsError struct {
	lines []string // "line 12: pdq hash has 63 hex digits, want 64", at most hashlist.MaxBadRecords
	count int64    // every bad record
}

// Error returns the count and one line per listed record:
//
//	ImportSignalsRequest.chunk: 2 bad records, nothing imported (set skip_invalid to import the others):
//	  line 3: ...
//	  line 9: ...
func (e *badRecordsError) Error() string {
	var b strings.Builder
	noun := "records"
	if e.count == 1 {
		noun = "record"
	}
	fmt.Fprintf(&b, "ImportSignalsRequest.chunk: %d bad %s, nothing imported (set skip_invalid to import the others):", e.count, noun)
	for _, l := range e.lines {
		b.WriteString("\n  " + l)
	}
	if more := e.count - int64(len(e.lines)); more > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", more)
	}
	return b.String()
}

// chunkReader reads the chunks of an import's messages as one stream of
// bytes; it holds one message at a time. err is the first error of recv
// (io.EOF at the end of the stream) or a chunk over the limit; it is
// returned by every later Read.
type chunkReader struct {
	recv func() (*pb.ImportSignalsRequest, error)
	buf  []byte // rest of the current chunk
	msgs int    // messages received, the first included
	err  error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		m, err := r.recv()
		if err != nil {
			r.err = err
			continue
		}
		r.msgs++
		var vs violations
		checkImportChunk(&vs, m.GetChunk(), r.msgs)
		if err := vs.err(); err != nil {
			r.err = err
			continue
		}
		r.buf = m.GetChunk()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (b *bankService) ExportSignals(req *pb.ExportSignalsRequest, stream pb.BankService_ExportSignalsServer) error {
	s, ctx := b.s, stream.Context()
	var vs violations
	checkBankName(&vs, "ExportSignalsRequest.bank", req.GetBank())
	format := defaultExportFormat
	if f := req.GetFormat(); f != "" {
		format = hashlist.Format(f)
	}
	if _, err := hashlist.NewWriter(io.Discard, format); err != nil {
		what := "unknown"
		if errors.Is(err, hashlist.ErrCannotWrite) {
			what = "a format that can be read but not written"
		}
		vs.add("ExportSignalsRequest.format", "%s is %s, want one of %s (default %s)",
			quote(req.GetFormat()), what, formatNames(hashlist.WritableFormats()), defaultExportFormat)
	}
	if err := vs.err(); err != nil {
		return s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "ExportSignalsRequest.bank", req.GetBank()); err != nil {
		return s.toStatus(ctx, err)
	}
	out := &chunkWriter{send: stream.Send}
	err := hashlist.Export(ctx, s.lists, req.GetBank(), out, format, func(n int64) { out.items = n })
	if errors.Is(err, hashlist.ErrNotRepresentable) {
		return s.toStatus(ctx, invalid("ExportSignalsRequest.format", "vpdq holds one video, and bank %q cannot be written so: %s",
			req.GetBank(), hashlistReason(err)))
	}
	if err != nil {
		return s.toStatus(ctx, err)
	}
	return s.toStatus(ctx, out.flush())
}

// chunkWriter sends what is written to it as ExportSignalsResponse chunks
// of exportChunkBytes, with the count of items written so far.
type chunkWriter struct {
	send  func(*pb.ExportSignalsResponse) error
	buf   []byte
	items int64
	sent  bool // a message has been sent
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), exportChunkBytes-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == exportChunkBytes {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush sends what is buffered; at the end of an empty export it sends one
// message without bytes so that the count arrives.
func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 && w.sent {
		return nil
	}
	err := w.send(&pb.ExportSignalsResponse{Chunk: w.buf, Items: w.items})
	// A fresh buffer: the stream may still hold the last one.
	w.buf, w.sent = make([]byte, 0, exportChunkBytes), true
	return err
}

func formatNames(fs []hashlist.Format) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}
