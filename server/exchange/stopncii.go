package exchange

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mediamatch/mediamatch/index/hashlist"
)

// stopNCIIKind reads StopNCII's FetchHashes: a run asks for the records
// changed since startTimestamp and follows nextPageToken while
// hasMoreRecords; the last page's nextSetTimestamp starts the next run.
// Records have no ids: hashlist names each "<type>-<hash>", so a hash
// listed again replaces its item, and a hashStatus other than Active
// deletes it. The checkpoint holds the run's start and the page token, so
// a crash resumes at the next page. A page token is not valid for long:
// one that StopNCII refuses (a 4xx other than 401, 403, 429) restarts the
// run from its start, which repeats only puts and deletes already applied
// and so changes nothing.
type stopNCIIKind struct{ f *Fetcher }

type stopNCIICheckpoint struct {
	checkpointHeader
	Since int64  `json:"since,omitempty"` // startTimestamp of the run
	Token string `json:"token,omitempty"` // nextPageToken within the run
}

type stopNCIIEnvelope struct {
	NextPageToken    string `json:"nextPageToken"`
	NextSetTimestamp *int64 `json:"nextSetTimestamp"`
	HasMoreRecords   bool   `json:"hasMoreRecords"`
}

func (k *stopNCIIKind) next(ctx context.Context, cp Checkpoint) (Page, error) {
	f := k.f
	var c stopNCIICheckpoint
	if err := loadCheckpoint(StopNCII, cp, &c, &c.checkpointHeader); err != nil {
		return Page{}, err
	}
	if c.Since == 0 && c.Token == "" && !f.cfg.Since.IsZero() {
		c.Since = f.cfg.Since.Unix()
	}
	p, err := k.fetch(ctx, &c)
	if errors.Is(err, ErrRefused) && c.Token != "" {
		c.Token = ""
		p, err = k.fetch(ctx, &c)
	}
	return p, err
}

// fetch fetches the page c is at and returns it with its checkpoint.
func (k *stopNCIIKind) fetch(ctx context.Context, c *stopNCIICheckpoint) (Page, error) {
	f := k.f
	size := f.cfg.PageSize
	if size <= 0 {
		size = 800
	}
	u := f.base.JoinPath("FetchHashes")
	q := url.Values{"startTimestamp": {strconv.FormatInt(c.Since, 10)}, "pageSize": {strconv.Itoa(size)}}
	if c.Token != "" {
		q.Set("nextPageToken", c.Token)
	}
	u.RawQuery = q.Encode()
	resp, err := f.do(ctx, request{method: http.MethodGet, url: u, header: http.Header{
		"Ocp-Apim-Subscription-Key": {f.creds.SubscriptionKey},
		"X-Functions-Key":           {f.creds.FunctionKey},
	}})
	if err != nil {
		return Page{}, err
	}
	op := string(StopNCII) + ": GET " + redactURL(u)
	var env stopNCIIEnvelope
	if err := f.envelope(op, resp.body, &env); err != nil {
		return Page{}, err
	}
	p, err := f.parse(op, resp.body, hashlist.StopNCII)
	if err != nil {
		return Page{}, err
	}
	if env.HasMoreRecords && env.NextPageToken != "" && env.NextPageToken != c.Token {
		next := stopNCIICheckpoint{Since: c.Since, Token: env.NextPageToken}
		return p.page(storeCheckpoint(StopNCII, &next, &next.checkpointHeader), true), nil
	}
	if env.NextSetTimestamp == nil {
		return Page{}, &Error{Kind: ErrBadPage, Op: op, Reason: "the last page of a run has no nextSetTimestamp"}
	}
	done := stopNCIICheckpoint{Since: max(c.Since, *env.NextSetTimestamp)}
	return p.page(storeCheckpoint(StopNCII, &done, &done.checkpointHeader), false), nil
}
