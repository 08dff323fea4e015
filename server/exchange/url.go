package exchange

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index/hashlist"
)

// urlKind fetches a list file whole. The file is the exchange's whole
// content, so a changed file replaces the last one: the page holds every
// record of the new file, then a delete for each id of the last file that
// the new one no longer lists. The ids of the last file are therefore in
// the checkpoint: the page and the checkpoint that lists its ids are
// stored in one write, so a crash before it leaves the old file's items
// and ids, and the next fetch diffs against them again; a crash after it
// leaves the new ones. The alternative, the caller diffing against the
// bank, would delete items a curator added to the bank by hand.
type urlKind struct{ f *Fetcher }

type urlCheckpoint struct {
	checkpointHeader
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	SHA256       string `json:"sha256,omitempty"` // of the last body, to skip an unchanged file served without validators
	// IDs are the ids of the items the last file put, sorted and
	// separated by spaces (which ids never hold): one string is much
	// quicker to encode than a list of a million.
	IDs string `json:"ids,omitempty"`
}

func (k *urlKind) next(ctx context.Context, cp Checkpoint) (Page, error) {
	f := k.f
	var c urlCheckpoint
	if err := loadCheckpoint(URL, cp, &c, &c.checkpointHeader); err != nil {
		return Page{}, err
	}
	req := request{method: http.MethodGet, url: f.base, header: http.Header{}}
	if c.ETag != "" {
		req.header.Set("If-None-Match", c.ETag)
	}
	if c.LastModified != "" {
		req.header.Set("If-Modified-Since", c.LastModified)
	}
	switch {
	case f.creds.Token != "":
		req.header.Set("Authorization", "Bearer "+f.creds.Token)
	case f.creds.Username != "" || f.creds.Password != "":
		req.basicUser, req.basicPass = f.creds.Username, f.creds.Password
	}
	resp, err := f.do(ctx, req)
	if err != nil {
		return Page{}, err
	}
	if resp.status == http.StatusNotModified {
		return Page{Checkpoint: cp}, nil
	}
	op := string(URL) + ": GET " + redactURL(f.base)
	sum := sha256.Sum256(resp.body)
	next := urlCheckpoint{ETag: resp.header.Get("ETag"), LastModified: resp.header.Get("Last-Modified"),
		SHA256: hex.EncodeToString(sum[:]), IDs: c.IDs}
	if next.SHA256 == c.SHA256 {
		return Page{Checkpoint: storeCheckpoint(URL, &next, &next.checkpointHeader)}, nil
	}
	if len(bytes.TrimSpace(resp.body)) == 0 {
		// An empty body is far likelier a broken server than a partner
		// that withdrew its whole list: refuse it rather than delete
		// every item.
		return Page{}, &Error{Kind: ErrBadPage, Op: op, Status: resp.status, Reason: "empty body"}
	}
	format := f.cfg.Format
	if format == "" {
		if format, err = hashlist.Detect(resp.body[:min(len(resp.body), hashlist.DetectBytes)]); err != nil {
			return Page{}, &Error{Kind: ErrBadPage, Op: op, Status: resp.status, Reason: f.red.clean(err.Error())}
		}
	}
	p, err := f.parse(op, resp.body, format)
	if err != nil {
		return Page{}, err
	}
	if p.rejected > 0 && !bytes.HasSuffix(resp.body, []byte("\n")) &&
		p.lastBad == bytes.Count(resp.body, []byte("\n"))+1 {
		// A line format cannot tell a list cut short from a whole one,
		// except by a last line that is both bad and unfinished.
		return Page{}, &Error{Kind: ErrBadPage, Op: op, Status: resp.status,
			Reason: fmt.Sprintf("the list ends in the middle of a bad line %d, as if cut short", p.lastBad)}
	}
	if len(p.records) == 0 && p.rejected > 0 {
		return Page{}, &Error{Kind: ErrBadPage, Op: op, Status: resp.status,
			Reason: "every record of the list was refused, the first: " + p.bad[0].Error()}
	}
	// The ids the new file leaves in the bank, in the order of its
	// records (a delete in the file retracts an earlier put).
	live := make(map[string]bool, len(p.records))
	for _, r := range p.records {
		live[r.Item.ID] = !r.Delete
	}
	for _, id := range strings.Fields(c.IDs) {
		if _, listed := live[id]; !listed {
			p.records = append(p.records, hashlist.Record{Delete: true,
				Item: mediamatch.Item{ID: id, Source: &mediamatch.Source{Format: string(format), Partner: f.cfg.Partner}}})
		}
	}
	ids := make([]string, 0, len(live))
	for id, put := range live {
		if put {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	next.IDs = strings.Join(ids, " ")
	return p.page(storeCheckpoint(URL, &next, &next.checkpointHeader), false), nil
}
