package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mediamatch/mediamatch/index/hashlist"
)

// Kind names an exchange's protocol.
type Kind string

// The kinds.
const (
	URL            Kind = "url"            // a list file in any format hashlist reads, refetched with ETag / If-Modified-Since
	ThreatExchange Kind = "threatexchange" // Meta ThreatExchange threat_updates of a privacy group (GIFCT)
	TCAP           Kind = "tcap"           // Tech Against Terrorism's TCAP hash list API
	StopNCII       Kind = "stopncii"       // StopNCII.org FetchHashes
	NCMEC          Kind = "ncmec"          // NCMEC hash-sharing API (XML)
)

// Kinds returns every kind in a fixed order.
func Kinds() []Kind { return []Kind{URL, ThreatExchange, TCAP, StopNCII, NCMEC} }

// DefaultBaseURL returns the public endpoint of kind k; "" for URL, whose
// base URL is the list's own address and must be given.
func DefaultBaseURL(k Kind) string {
	switch k {
	case ThreatExchange:
		return "https://graph.facebook.com"
	case TCAP:
		return "https://beta.terrorismanalytics.org"
	case StopNCII:
		return "https://api.stopncii.org/v1"
	case NCMEC:
		return "https://report.cybertip.org/hashsharing"
	}
	return ""
}

// Config is an exchange as configured. The zero value of each optional
// field is its default.
type Config struct {
	Kind Kind
	// BaseURL is the endpoint; empty means DefaultBaseURL(Kind). For URL
	// it is the list file's address. It must be http or https, without
	// user information (credentials go in Credentials).
	BaseURL string
	// Partner is Source.Partner of records whose list names none.
	Partner string

	// PrivacyGroup is the ThreatExchange privacy group id (required for
	// ThreatExchange).
	PrivacyGroup string
	// APIVersion is the Graph API version of ThreatExchange requests;
	// empty means DefaultTEVersion.
	APIVersion string
	// Types restricts ThreatExchange updates to these indicator types
	// (the types parameter); empty means HASH_PDQ, HASH_MD5 and
	// HASH_VIDEO_MD5.
	Types []string
	// Ideology is the TCAP list asked for: "all" (empty), "islamist" or
	// "far-right".
	Ideology string
	// Format is the URL list's format; empty detects it (hashlist.Detect).
	Format hashlist.Format
	// PageSize is the records asked for a page (ThreatExchange limit,
	// StopNCII pageSize); 0 means the kind's default (1000, 800).
	PageSize int
	// Since is where the first run starts, for the kinds that fetch by
	// time (ThreatExchange, StopNCII, NCMEC); zero means from the
	// beginning of the exchange.
	Since time.Time
}

// DefaultTEVersion is the Graph API version of ThreatExchange requests
// when Config.APIVersion is empty. Graph API versions are retired about
// two years after release: configure a newer one when Meta retires it.
const DefaultTEVersion = "v21.0"

// Checkpoint is where an exchange's fetch resumes: an opaque string that
// the caller stores with the data it covers and gives back to
// Fetcher.Next. The empty Checkpoint starts from the beginning (or
// Config.Since). It holds no credentials. It is JSON, so that a status
// page may show it, and its size is small except for URL, whose
// checkpoint lists the ids of the last fetched list (about the length of
// an id a record) so that the next list's removals can be deleted.
type Checkpoint string

// Page is what one call of Fetcher.Next returns: the records of one page
// of the exchange and the checkpoint just after them.
type Page struct {
	// Records are the page's puts and deletes, in the exchange's order;
	// apply them in order. A put replaces the item of the same id; a
	// delete of an absent id is a no-op; so applying a page twice
	// changes nothing.
	Records []hashlist.Record
	// Checkpoint covers exactly Records: store it in the same write as
	// them, and give it to the next call.
	Checkpoint Checkpoint
	// More says that another page is ready now: call Next again at once.
	// False means the exchange is caught up: wait for the next interval.
	More bool
	// Rejected counts the records the list held that hashlist refused
	// (a hash mediamatch does not store, such as TMK or SHA-512; a
	// malformed entry); they are skipped. Bad holds the first
	// MaxBadRecords of them.
	Rejected int
	Bad      []*hashlist.LineError
}

// MaxBadRecords is how many bad records a Page lists.
const MaxBadRecords = 20

// Options tune a Fetcher. The zero value is ready to use.
type Options struct {
	// Client makes the requests; nil means a client of its own with
	// connection timeouts. Its Timeout should be 0: RequestTimeout
	// bounds each attempt, body included.
	Client *http.Client
	// RequestTimeout bounds one attempt of one request, reading the body
	// included; 0 means 2 minutes.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a response body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Retry is the retry policy; its zero fields are the defaults.
	Retry RetryPolicy
	// Sleep waits d or until ctx ends (returning ctx.Err()); nil means a
	// timer. Tests give one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock that dates a run's end (ThreatExchange stop_time,
	// NCMEC to); nil means time.Now.
	Now func() time.Time
}

// DefaultMaxBodyBytes is Options.MaxBodyBytes's default: room for a
// whole list file of a few million hashes.
const DefaultMaxBodyBytes = 512 << 20

// Errors of the package, wrapped with detail; test with errors.Is. Their
// texts never hold a credential.
var (
	// ErrAuth is an exchange that refused the credentials (HTTP 401 or
	// 403): permanent until they are changed, so the scheduler should
	// stop the exchange and show it rather than try again.
	ErrAuth = errors.New("exchange: credentials refused")
	// ErrUnavailable is an exchange that kept failing (network errors,
	// 5xx, 429) through every retry: try again at the next interval.
	ErrUnavailable = errors.New("exchange: unavailable")
	// ErrBadPage is a response that cannot be read: truncated, not the
	// kind's format, a list hashlist cannot read on. Nothing of the page
	// is returned.
	ErrBadPage = errors.New("exchange: bad response")
	// ErrTooLarge is a response body over Options.MaxBodyBytes.
	ErrTooLarge = errors.New("exchange: response too large")
	// ErrRefused is any other HTTP error status (400, 404, ...): the
	// request is wrong, and repeating it will not help.
	ErrRefused = errors.New("exchange: request refused")
	// ErrCheckpoint is a checkpoint that is not one of this kind's.
	ErrCheckpoint = errors.New("exchange: bad checkpoint")
	// ErrConfig is a Config or Credentials that New refuses.
	ErrConfig = errors.New("exchange: bad configuration")
)

// Error is a failed request: what was asked, of which URL (its secrets
// redacted), and what happened. errors.Is sees Kind (one of the package's
// errors, or the context's).
type Error struct {
	Kind   error  // ErrAuth, ErrUnavailable, ErrBadPage, ..., context.Canceled
	Op     string // "threatexchange: GET https://graph.facebook.com/...?access_token=REDACTED"
	Status int    // the last HTTP status, 0 if none
	Reason string // what happened, redacted
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.Op != "" {
		b.WriteString(": " + e.Op)
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	return b.String()
}

// Unwrap returns Kind. The cause is kept only as redacted text, so that
// no error of the package can lead to a credential.
func (e *Error) Unwrap() error { return e.Kind }

// Fetcher pulls pages from one exchange. It is safe for concurrent use,
// though an exchange is meant to be fetched by one caller at a time.
type Fetcher struct {
	cfg   Config
	creds Credentials
	opts  Options
	base  *url.URL
	kind  kind
	red   *redactor

	mu       sync.Mutex
	tcapAuth string // TCAP's JWT, once obtained from username and password
}

// kind is a protocol: it fetches the page after cp.
type kind interface {
	next(ctx context.Context, cp Checkpoint) (Page, error)
}

// New returns a Fetcher of the exchange cfg with creds. It returns an
// error wrapping ErrConfig for an unknown kind, a bad base URL, a missing
// setting (PrivacyGroup), or credentials the kind needs and creds lacks
// (see Credentials).
func New(cfg Config, creds Credentials, opts Options) (*Fetcher, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL(cfg.Kind)
	}
	u, err := url.Parse(cfg.BaseURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: base URL: %v", ErrConfig, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return nil, fmt.Errorf("%w: base URL %q, want an http or https URL", ErrConfig, redactURL(u))
	case u.User != nil:
		return nil, fmt.Errorf("%w: base URL with user information, want credentials in the credentials file", ErrConfig)
	}
	if opts.Client == nil {
		opts.Client = defaultClient()
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 2 * time.Minute
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	opts.Retry = opts.Retry.withDefaults()
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := creds.check(cfg.Kind); err != nil {
		return nil, err
	}
	f := &Fetcher{cfg: cfg, creds: creds, opts: opts, base: u, red: newRedactor(creds)}
	switch cfg.Kind {
	case URL:
		if cfg.Format != "" {
			if _, err := hashlist.ParseFormat(string(cfg.Format)); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrConfig, err)
			}
		}
		f.kind = &urlKind{f: f}
	case ThreatExchange:
		if cfg.PrivacyGroup == "" || strings.ContainsAny(cfg.PrivacyGroup, "/?#") {
			return nil, fmt.Errorf("%w: threatexchange privacy group %q, want its id", ErrConfig, cfg.PrivacyGroup)
		}
		f.kind = &teKind{f: f}
	case TCAP:
		switch cfg.Ideology {
		case "", "all", "islamist", "far-right":
		default:
			return nil, fmt.Errorf("%w: tcap ideology %q, want all, islamist or far-right", ErrConfig, cfg.Ideology)
		}
		f.kind = &tcapKind{f: f}
	case StopNCII:
		f.kind = &stopNCIIKind{f: f}
	case NCMEC:
		f.kind = &ncmecKind{f: f}
	default:
		return nil, fmt.Errorf("%w: kind %q, want one of %v", ErrConfig, cfg.Kind, Kinds())
	}
	return f, nil
}

// Next fetches the page after cp (the empty Checkpoint for the first) and
// returns it with the checkpoint that covers it. On error nothing of the
// page is returned and cp stays the place to resume from. Errors: an
// *Error wrapping ErrAuth, ErrUnavailable, ErrBadPage, ErrTooLarge,
// ErrRefused or the context's error; an error wrapping ErrCheckpoint for a
// checkpoint of another kind or that cannot be read.
func (f *Fetcher) Next(ctx context.Context, cp Checkpoint) (Page, error) {
	return f.kind.next(ctx, cp)
}

// Kind returns the fetcher's kind.
func (f *Fetcher) Kind() Kind { return f.cfg.Kind }

// checkpointHeader is the part every checkpoint has: its kind and
// version, so that a checkpoint of another exchange is refused.
type checkpointHeader struct {
	Kind Kind `json:"kind"`
	V    int  `json:"v"`
}

// loadCheckpoint decodes cp, a checkpoint of kind k, into v (a struct
// that embeds checkpointHeader); the empty cp leaves v as it is.
func loadCheckpoint(k Kind, cp Checkpoint, v any, h *checkpointHeader) error {
	if cp == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(cp), v); err != nil {
		return fmt.Errorf("%w: %s checkpoint is not JSON: %v", ErrCheckpoint, k, err)
	}
	if h.Kind != k || h.V != 1 {
		return fmt.Errorf("%w: a checkpoint of %q version %d, want %q version 1", ErrCheckpoint, h.Kind, h.V, k)
	}
	return nil
}

// storeCheckpoint encodes v, whose header it sets.
func storeCheckpoint(k Kind, v any, h *checkpointHeader) Checkpoint {
	h.Kind, h.V = k, 1
	b, err := json.Marshal(v)
	if err != nil { // only plain fields: cannot fail
		panic(err)
	}
	return Checkpoint(b)
}
