package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/index/hashlist"
)

// ImportSignals and ExportSignals: partner hash lists in and out. Both
// stream, so that a list of any length takes constant memory here: the
// import reads the request stream as an io.Reader through a hashlist.Reader
// and stages one record at a time into an index.Import; the export pages
// through the bank and writes through a hashlist.Writer into 1 MiB chunks.

// Limits of ImportSignals and ExportSignals, as stated in bank.proto.
const (
	// MaxImportChunkBytes is the largest chunk of one ImportSignalsRequest.
	MaxImportChunkBytes = 4 << 20
	// maxBadRecords is how many bad records an import reports by line.
	maxBadRecords = 100
	// detectBytes is how much of a list is read to detect its format.
	detectBytes = 64 << 10
	// exportChunkBytes is the largest chunk of one ExportSignalsResponse.
	exportChunkBytes = 1 << 20
	// exportPageSize is how many items an export reads from the index at a time.
	exportPageSize = index.MaxPageSize
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

	im, err := s.ix.BeginImport(ctx, first.GetBank())
	if err != nil {
		return s.toStatus(ctx, err)
	}
	// A token revoked (or expired) while the list streams in does not get
	// it applied: Commit checks the token at the commit point.
	if c := callerOf(ctx); c != nil && strings.HasPrefix(c.key, "tok_") {
		im.RequireToken(c.key)
	}
	// Whatever ends the call before Commit (a bad list, the client going
	// away, a storage error) drops what was staged; after Commit it is a
	// no-op.
	defer func() {
		if err := im.Abort(); err != nil {
			s.log.ErrorContext(ctx, "import abort", "err", err)
		}
	}()

	body := &chunkReader{recv: stream.Recv, buf: first.GetChunk()}
	br := bufio.NewReaderSize(body, detectBytes)
	detected := format == ""
	if detected {
		head, err := br.Peek(detectBytes)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return s.toStatus(ctx, err)
		}
		if format, err = hashlist.Detect(head); err != nil {
			return s.toStatus(ctx, invalid("ImportSignalsRequest.format", "empty, and the list's format cannot be detected (%s); "+
				"want one of %s", hashlistReason(err), formatNames(hashlist.Formats())))
		}
		if id := first.GetItemId(); id != "" && format != hashlist.VPDQ {
			return s.toStatus(ctx, invalid("ImportSignalsRequest.item_id", "%s given for a list detected as %s, "+
				"want it only for vpdq (a file of one video)", quote(id), format))
		}
	}
	rd, err := hashlist.NewReader(br, format, hashlist.ReaderOptions{Partner: first.GetPartner(), ID: first.GetItemId()})
	if err != nil {
		return s.toStatus(ctx, invalid("ImportSignalsRequest", "%v", err))
	}

	resp := &pb.ImportSignalsResponse{Format: string(format)}
	bad := &badRecordsError{}
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *hashlist.LineError
		switch {
		case errors.As(err, &le):
			bad.add(le.Error())
			continue
		case err != nil:
			if body.err != nil && !errors.Is(body.err, io.EOF) {
				return s.toStatus(ctx, body.err) // the stream failed, or a chunk is over the limit
			}
			return s.toStatus(ctx, invalid("ImportSignalsRequest.chunk", "%s list broken, nothing imported: %s",
				format, hashlistReason(err)))
		}
		err = im.Add(ctx, index.ImportRecord{Item: rec.Item, Delete: rec.Delete, Line: rec.Line, IDFromHash: idFromHash(rec.Item)})
		switch {
		case errors.Is(err, mediamatch.ErrInvalid):
			bad.add(fmt.Sprintf("line %d: %s", rec.Line, cleanText(err.Error(), maxReason)))
		case err != nil:
			return s.toStatus(ctx, err)
		}
	}
	if bad.count > 0 && !first.GetSkipInvalid() {
		return s.toStatus(ctx, bad)
	}
	st, err := im.Commit(ctx)
	if err != nil {
		return s.toStatus(ctx, err)
	}
	resp.Added, resp.Updated, resp.Deleted, resp.Unchanged = st.Added, st.Updated, st.Deleted, st.Unchanged
	resp.Rejected, resp.Errors = bad.count, bad.lines
	return stream.SendAndClose(resp)
}

// idFromHash reports whether its id is one the hashlist reader made from
// one of its hashes ("pdq-<hex>"), for lists that give no ids: records of
// the same hash then share the id without being two versions of one item.
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
	lines []string // "line 12: pdq hash has 63 hex digits, want 64", at most maxBadRecords
	count int64    // every bad record
}

func (e *badRecordsError) add(line string) {
	if len(e.lines) < maxBadRecords {
		e.lines = append(e.lines, line)
	}
	e.count++
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
	out := &chunkWriter{send: stream.Send}
	w, err := hashlist.NewWriter(out, format)
	if err != nil {
		what := "unknown"
		if errors.Is(err, hashlist.ErrCannotWrite) {
			what = "a format that can be read but not written"
		}
		vs.add("ExportSignalsRequest.format", "%s is %s, want one of %s (default %s)",
			quote(req.GetFormat()), what, formatNames(writableFormats()), defaultExportFormat)
	}
	if err := vs.err(); err != nil {
		return s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "ExportSignalsRequest.bank", req.GetBank()); err != nil {
		return s.toStatus(ctx, err)
	}
	if _, err := s.ix.GetBank(ctx, req.GetBank()); err != nil {
		return s.toStatus(ctx, err) // NotFound before any output
	}
	token := ""
	for {
		items, next, err := s.ix.ListItems(ctx, req.GetBank(), exportPageSize, token)
		if err != nil {
			return s.toStatus(ctx, err)
		}
		for _, it := range items {
			err := w.Write(it)
			switch {
			case errors.Is(err, hashlist.ErrNotRepresentable) && format == hashlist.VPDQ:
				return s.toStatus(ctx, invalid("ExportSignalsRequest.format", "vpdq holds one video, and bank %q cannot be written so: %s",
					req.GetBank(), hashlistReason(err)))
			case errors.Is(err, hashlist.ErrNotRepresentable):
				continue // the format has nothing of this item's: partner formats carry only what they can hold
			case err != nil:
				return s.toStatus(ctx, err)
			}
			out.items++
		}
		if token = next; token == "" {
			break
		}
	}
	if err := w.Close(); err != nil {
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

// writableFormats returns the formats a hashlist.Writer can write.
func writableFormats() []hashlist.Format {
	var out []hashlist.Format
	for _, f := range hashlist.Formats() {
		if _, err := hashlist.NewWriter(io.Discard, f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

func formatNames(fs []hashlist.Format) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}
