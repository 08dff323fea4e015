package exchange

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is the one place that talks HTTP: a request with its retries,
// the backoff and Retry-After, the size limit of a body, and the
// redaction of every text an error carries.

// RetryPolicy says how a failed request is tried again: network errors,
// 408, 429 and 5xx (except 501) are; others are not. The delay before
// retry n (1, 2, ...) is Base * 2^(n-1), at most Max, less a random part
// of up to half of it (so that many fetchers do not retry in step); a 429
// or 503 with Retry-After waits what it says instead, at most
// MaxRetryAfter.
type RetryPolicy struct {
	Attempts      int           // tries in all, the first included; 0 means 6
	Base          time.Duration // 0 means 1s
	Max           time.Duration // 0 means 1 minute
	MaxRetryAfter time.Duration // 0 means 10 minutes
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 6
	}
	if p.Base <= 0 {
		p.Base = time.Second
	}
	if p.Max <= 0 {
		p.Max = time.Minute
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 10 * time.Minute
	}
	return p
}

// backoff returns the delay before retry n (1-based).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	return d - rand.N(d/2+1)
}

// sleep is Options.Sleep's default.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// defaultClient is Options.Client's default: bounded dials, TLS
// handshakes and waits for headers; the whole attempt is bounded by
// RequestTimeout through its context.
func defaultClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		// A redirect to another host must not carry the credentials
		// along; net/http drops Authorization then, but not a token in
		// the query or a custom header, so redirects are not followed
		// at all beyond the same host.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || req.URL.Host != via[0].URL.Host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// response is a response read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request describes one HTTP request, made anew for each attempt.
type request struct {
	method string
	url    *url.URL
	header http.Header
	form   url.Values // the body of a POST, form-encoded
	// basic, if set, is sent as basic authentication.
	basicUser, basicPass string
	// classify, if set, reads the body of an error status that is
	// otherwise ErrRefused (a 4xx other than 401, 403, 408, 429) and
	// returns ErrAuth, ErrRefused or errRetry: the Graph API answers a bad
	// access token, and its rate limits, with 400 and a code.
	classify func(status int, body []byte) error
}

// errRetry is what request.classify returns for an error to retry.
var errRetry = errors.New("retry")

// do makes req, retrying as Options.Retry says, and returns the response
// of a 2xx or 304 status with its body read whole. Errors: an *Error
// wrapping ErrAuth (401, 403), ErrRefused (other 4xx), ErrUnavailable
// (retries spent), ErrTooLarge, or the context's error.
func (f *Fetcher) do(ctx context.Context, req request) (*response, error) {
	op := f.red.clean(string(f.cfg.Kind) + ": " + req.method + " " + redactURL(req.url))
	fail := func(kind error, status int, reason string) error {
		return &Error{Kind: kind, Op: op, Status: status, Reason: f.red.clean(reason)}
	}
	p := f.opts.Retry
	var (
		lastStatus int
		lastReason string
	)
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fail(err, lastStatus, lastReason)
		}
		resp, wait, err := f.attempt(ctx, req)
		if err == nil {
			return resp, nil
		}
		var perm *permanent
		if errors.As(err, &perm) {
			return nil, fail(perm.kind, perm.status, perm.reason)
		}
		if ctx.Err() != nil {
			return nil, fail(ctx.Err(), lastStatus, err.Error())
		}
		lastReason, lastStatus = err.Error(), 0
		if resp != nil {
			lastStatus = resp.status
		}
		if attempt >= p.Attempts {
			return nil, fail(ErrUnavailable, lastStatus, fmt.Sprintf("%d attempts, the last: %s", attempt, lastReason))
		}
		if wait == 0 {
			wait = p.backoff(attempt)
		}
		if err := f.opts.Sleep(ctx, wait); err != nil {
			return nil, fail(err, lastStatus, lastReason)
		}
	}
}

// permanent is an attempt's error that no retry will mend.
type permanent struct {
	kind   error
	status int
	reason string
}

func (p *permanent) Error() string { return p.reason }

// attempt makes req once. It returns a *permanent error, or another
// error to retry after wait (0: the backoff's), with the response if
// there was one.
func (f *Fetcher) attempt(ctx context.Context, req request) (*response, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.RequestTimeout)
	defer cancel()
	var body io.Reader
	if req.form != nil {
		body = strings.NewReader(req.form.Encode())
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url.String(), body)
	if err != nil {
		return nil, 0, &permanent{kind: ErrConfig, reason: "cannot make the request: " + err.Error()}
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	if req.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if req.basicUser != "" || req.basicPass != "" {
		hr.SetBasicAuth(req.basicUser, req.basicPass)
	}
	hr.Header.Set("User-Agent", "mediamatch-exchange/1")
	res, err := f.opts.Client.Do(hr)
	if err != nil {
		return nil, 0, errors.New(netReason(err))
	}
	defer func() {
		// What is left of an error's body is read (a little of it), so
		// that the connection can serve the retry.
		io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
	}()
	r := &response{status: res.StatusCode, header: res.Header}
	switch s := res.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return r, 0, &permanent{kind: ErrAuth, status: s, reason: fmt.Sprintf("HTTP %d %s", s, http.StatusText(s))}
	case s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable:
		wait, ok := retryAfter(res.Header.Get("Retry-After"), f.opts.Now())
		if ok {
			wait = min(wait, f.opts.Retry.MaxRetryAfter)
			if wait <= 0 {
				wait = time.Millisecond // a date in the past: retry, but without the backoff
			}
		}
		return r, wait, fmt.Errorf("HTTP %d %s", s, http.StatusText(s))
	case s == http.StatusRequestTimeout || s >= 500 && s != http.StatusNotImplemented:
		return r, 0, fmt.Errorf("HTTP %d %s", s, http.StatusText(s))
	case s >= 300 && s != http.StatusNotModified:
		b, _ := io.ReadAll(io.LimitReader(res.Body, 16<<10))
		reason := fmt.Sprintf("HTTP %d %s: %q", s, http.StatusText(s), bytes.ToValidUTF8(b[:min(len(b), 200)], nil))
		kind := ErrRefused
		if req.classify != nil {
			kind = req.classify(s, b)
		}
		if kind == errRetry {
			return r, 0, errors.New(reason)
		}
		return r, 0, &permanent{kind: kind, status: s, reason: reason}
	}
	max := f.opts.MaxBodyBytes
	var buf bytes.Buffer
	if res.ContentLength > max {
		return r, 0, &permanent{kind: ErrTooLarge, status: res.StatusCode,
			reason: fmt.Sprintf("Content-Length %d, over the limit of %d bytes", res.ContentLength, max)}
	}
	if res.ContentLength > 0 {
		buf.Grow(int(res.ContentLength))
	} else {
		buf.Grow(256 << 10)
	}
	n, err := buf.ReadFrom(io.LimitReader(res.Body, max+1))
	switch {
	case err != nil:
		// A body cut short (the connection dropped, a Content-Length
		// not reached) is a network failure: retry the page whole.
		return r, 0, fmt.Errorf("body cut short after %d bytes: %s", n, netReason(err))
	case n > max:
		return r, 0, &permanent{kind: ErrTooLarge, status: res.StatusCode,
			reason: fmt.Sprintf("body over the limit of %d bytes", max)}
	}
	r.body = buf.Bytes()
	return r, 0, nil
}

// netReason returns the text of a transport error without the URL that
// *url.Error repeats (the caller's Op has it, redacted).
func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected EOF"
	}
	return err.Error()
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now), true
	}
	return 0, false
}

// secretParams are query parameters that hold credentials: their values
// are replaced in any URL shown.
var secretParams = []string{"access_token", "token", "key", "api_key", "apikey", "password", "code", "client_secret",
	// Presigned object-store URLs, where a list file is often served
	// from: S3, Google Cloud Storage, Azure SAS.
	"x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential", "sig", "signature"}

// RedactURL returns the URL raw with secret query values and user
// information replaced by REDACTED, for showing a configured base URL
// (a presigned list URL is a credential); one that does not parse is
// shown as REDACTED.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "REDACTED"
	}
	return redactURL(u)
}

// redactURL returns u as a string with secret query values and user
// information replaced by REDACTED.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User("REDACTED")
	}
	if c.RawQuery != "" {
		q := c.Query()
		changed := false
		for k := range q {
			for _, s := range secretParams {
				if strings.EqualFold(k, s) {
					q[k] = []string{"REDACTED"}
					changed = true
				}
			}
		}
		if changed {
			c.RawQuery = q.Encode()
		}
	}
	return c.String()
}

// redactor removes an exchange's secrets from texts, however they got
// there (a server that echoes a token in an error page, a URL in a
// transport error).
type redactor struct {
	mu      sync.Mutex
	secrets []string
}

func newRedactor(c Credentials) *redactor {
	r := &redactor{}
	for _, s := range c.secrets() {
		r.add(s)
	}
	return r
}

// add adds a secret, such as a token obtained from the exchange.
func (r *redactor) add(s string) {
	if len(s) < 4 { // too short to find without mangling other text
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, s, url.QueryEscape(s), url.PathEscape(s))
}

// clean returns s without the secrets.
func (r *redactor) clean(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "REDACTED")
	}
	return s
}
