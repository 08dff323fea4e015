package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/index/hashlist"
	"github.com/mediamatch/mediamatch/server/exchange"
)

// This file is the scheduler of the partner exchanges: it fetches each
// unpaused exchange every interval, page after page, and applies each page
// as an import that carries the page's checkpoint, so that the bank and
// the checkpoint change in one write (index/exchange.go). The exchange
// RPCs (exchanges.go) use it to add, delete and fetch exchanges now.

// ExchangeStore is what the scheduler needs of the index: the exchanges,
// and imports to apply their pages. *index.Index satisfies it.
type ExchangeStore interface {
	CreateExchange(ctx context.Context, e index.Exchange) (index.Exchange, error)
	GetExchange(ctx context.Context, name string) (index.Exchange, error)
	ListExchanges(ctx context.Context) ([]index.Exchange, error)
	UpdateExchange(ctx context.Context, name string, fn func(*index.Exchange) error) (index.Exchange, error)
	DeleteExchange(ctx context.Context, name string) error
	BeginImport(ctx context.Context, bank string) (*index.Import, error)
}

// DefaultExchangeInterval is the time between fetches of an exchange
// configured without one.
const DefaultExchangeInterval = 10 * time.Minute

// SchedulerOptions configure a Scheduler. The zero value of each field
// means its default.
type SchedulerOptions struct {
	// CredentialsDir holds the credentials files of exchanges added with
	// a secret, one file of mode 0600 per exchange, in a directory of
	// mode 0700 (Run: "exchanges" under the data dir). Empty refuses
	// secrets (only credentials in environment variables).
	CredentialsDir string
	// Interval is the default time between fetches;
	// DefaultExchangeInterval if zero.
	Interval time.Duration
	// Tick is how often the scheduler looks for exchanges due (a scan of
	// the few exchange keys); default 1 second.
	Tick time.Duration
	// Fetch tunes the fetchers (HTTP client, retries).
	Fetch exchange.Options
	// Logger receives a line per run and per failure; default discards.
	// Credentials are never logged.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Getenv reads the environment variables named by exchanges;
	// default os.Getenv.
	Getenv func(string) string
}

// Scheduler fetches the exchanges of an ExchangeStore on their schedule.
// Run runs it; Fetch fetches one exchange now. Safe for concurrent use.
type Scheduler struct {
	st   ExchangeStore
	opts SchedulerOptions
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]*sync.Mutex // one run of an exchange at a time
	due     map[string]time.Time   // when each exchange is next due, jitter included
	busy    map[string]bool        // a run is going on
	wg      sync.WaitGroup
}

// NewScheduler returns a scheduler of the exchanges in st.
func NewScheduler(st ExchangeStore, o SchedulerOptions) *Scheduler {
	if o.Interval <= 0 {
		o.Interval = DefaultExchangeInterval
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	return &Scheduler{st: st, opts: o, log: o.Logger, running: map[string]*sync.Mutex{},
		due: map[string]time.Time{}, busy: map[string]bool{}}
}

// Run fetches every exchange that is neither paused nor stopped by an
// authentication failure whenever it is due, until ctx ends, and then
// waits for the runs going on (which ctx's end cancels). An exchange is
// due an interval after its last attempt, plus a random tenth of the
// interval at most, so that exchanges added together do not fetch in
// step; one never fetched is due at once.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	for {
		s.startDue(ctx)
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return
		case <-t.C:
		}
	}
}

// startDue starts a run of each exchange due.
func (s *Scheduler) startDue(ctx context.Context) {
	es, err := s.st.ListExchanges(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("exchanges: list failed; trying again", slog.Any("err", err))
		}
		return
	}
	now := s.opts.Now()
	for _, e := range es {
		if e.Paused || e.Status.AuthFailed {
			continue
		}
		s.mu.Lock()
		due, ok := s.due[e.Name]
		if !ok || s.dueChanged(e, due) {
			due = s.nextDue(e)
			s.due[e.Name] = due
		}
		start := !s.busy[e.Name] && !now.Before(due)
		if start {
			s.busy[e.Name] = true
			delete(s.due, e.Name) // set again from the run's attempt time
		}
		s.mu.Unlock()
		if !start {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { s.mu.Lock(); delete(s.busy, e.Name); s.mu.Unlock() }()
			if _, err := s.run(ctx, e.Name); err != nil && ctx.Err() == nil && !errors.Is(err, mediamatch.ErrNotFound) {
				s.log.Error("exchanges: run failed", slog.String("exchange", e.Name), slog.Any("err", err))
			}
		}()
	}
}

// dueChanged reports whether due was computed for another attempt than
// e's last (a FetchExchange ran meanwhile).
func (s *Scheduler) dueChanged(e index.Exchange, due time.Time) bool {
	return !e.Status.LastAttempt.IsZero() && due.Before(e.Status.LastAttempt)
}

func (s *Scheduler) interval(e index.Exchange) time.Duration {
	if e.Interval > 0 {
		return e.Interval
	}
	return s.opts.Interval
}

// nextDue returns when e is next due: now if it never ran, else an
// interval after its last attempt plus up to a tenth of it.
func (s *Scheduler) nextDue(e index.Exchange) time.Time {
	if e.Status.LastAttempt.IsZero() {
		return time.Time{}
	}
	iv := s.interval(e)
	return e.Status.LastAttempt.Add(iv + time.Duration(rand.Int64N(int64(iv)/10+1)))
}

// RunSummary is what one run of an exchange did.
type RunSummary struct {
	Pages    int
	Stats    mediamatch.ImportStats
	Rejected int64
	// Err is why the run stopped before it caught up; nil if it caught
	// up. Its text holds no credential.
	Err error
}

// Fetch runs the exchange name now, whether paused or stopped, and
// returns what the run did; a run of it going on is waited for first.
// Errors (the summary's Err aside): mediamatch.ErrNotFound if there is no
// such exchange, mediamatch.ErrClosed, ctx's error, or a storage error.
func (s *Scheduler) Fetch(ctx context.Context, name string) (RunSummary, error) {
	return s.run(ctx, name)
}

// lock returns the lock of runs of name.
func (s *Scheduler) lock(name string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.running[name]
	if m == nil {
		m = &sync.Mutex{}
		s.running[name] = m
	}
	return m
}

// Running reports whether a run of name is going on.
func (s *Scheduler) Running(name string) bool {
	m := s.lock(name)
	if m.TryLock() {
		m.Unlock()
		return false
	}
	return true
}

// run fetches name from its checkpoint until it is caught up or fails,
// applying each page with its checkpoint, and records the run in the
// exchange's status.
func (s *Scheduler) run(ctx context.Context, name string) (RunSummary, error) {
	m := s.lock(name)
	m.Lock()
	defer m.Unlock()
	e, err := s.st.GetExchange(ctx, name)
	if err != nil {
		return RunSummary{}, err
	}
	start := s.opts.Now()
	if _, err := s.st.UpdateExchange(ctx, name, func(x *index.Exchange) error {
		x.Status.LastAttempt = start
		return nil
	}); err != nil {
		return RunSummary{}, err
	}
	sum := s.pages(ctx, e)
	if ctx.Err() != nil {
		// A run cut short by shutdown is not a failure of the exchange:
		// its applied pages and checkpoint stand, and its status would
		// not be written anyway.
		return sum, ctx.Err()
	}
	end := s.opts.Now()
	_, err = s.st.UpdateExchange(context.WithoutCancel(ctx), name, func(x *index.Exchange) error {
		st := &x.Status
		st.LastRun, st.LastRunPages, st.Rejected = sum.Stats, sum.Pages, sum.Rejected
		st.LastError, st.AuthFailed = "", false
		switch {
		case sum.Err == nil:
			st.LastSuccess = end
		case errors.Is(sum.Err, exchange.ErrAuth):
			st.AuthFailed = true
			st.LastError = sum.Err.Error()
		default:
			st.LastError = sum.Err.Error()
		}
		return nil
	})
	level := slog.LevelInfo
	if sum.Err != nil {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "exchange fetched", slog.String("exchange", name), slog.String("bank", e.Bank),
		slog.Int("pages", sum.Pages), slog.Int64("added", sum.Stats.Added), slog.Int64("updated", sum.Stats.Updated),
		slog.Int64("deleted", sum.Stats.Deleted), slog.Int64("rejected", sum.Rejected),
		slog.Duration("elapsed", end.Sub(start)), slog.Any("err", sum.Err))
	if errors.Is(sum.Err, exchange.ErrAuth) {
		s.log.Error("exchange refused the credentials: stopped until resumed (mediamatch exchange resume)",
			slog.String("exchange", name))
	}
	return sum, err
}

// pages fetches and applies the pages of e from its checkpoint.
func (s *Scheduler) pages(ctx context.Context, e index.Exchange) RunSummary {
	var sum RunSummary
	f, err := s.fetcher(e)
	if err != nil {
		sum.Err = err
		return sum
	}
	cp := exchange.Checkpoint(e.Checkpoint)
	for {
		p, err := f.Next(ctx, cp)
		if err != nil {
			sum.Err = err
			return sum
		}
		st, rejected, err := s.apply(ctx, e, p)
		if err != nil {
			sum.Err = err
			return sum
		}
		sum.Pages++
		sum.Stats = addStats(sum.Stats, st)
		sum.Rejected += int64(p.Rejected) + rejected
		cp = p.Checkpoint
		if !p.More {
			return sum
		}
	}
}

// apply imports page p into e's bank with its checkpoint, all or nothing.
// Records the index refuses as invalid are skipped and counted.
func (s *Scheduler) apply(ctx context.Context, e index.Exchange, p exchange.Page) (mediamatch.ImportStats, int64, error) {
	im, err := s.st.BeginImport(ctx, e.Bank)
	if err != nil {
		return mediamatch.ImportStats{}, 0, err
	}
	defer im.Abort() // a no-op after Commit
	var rejected int64
	for _, r := range p.Records {
		err := im.Add(ctx, index.ImportRecord{Item: r.Item, Delete: r.Delete, Line: r.Line, IDFromHash: hashlist.IDFromHash(r.Item)})
		switch {
		case errors.Is(err, mediamatch.ErrInvalid):
			rejected++
		case err != nil:
			return mediamatch.ImportStats{}, 0, err
		}
	}
	im.SetCheckpoint(e.Name, string(p.Checkpoint))
	st, err := im.Commit(ctx)
	return st, rejected, err
}

func addStats(a, b mediamatch.ImportStats) mediamatch.ImportStats {
	return mediamatch.ImportStats{Added: a.Added + b.Added, Updated: a.Updated + b.Updated,
		Deleted: a.Deleted + b.Deleted, Unchanged: a.Unchanged + b.Unchanged}
}

// fetcher makes e's fetcher, with its credentials read now (so that a
// credentials file or variable changed takes effect at the next run).
func (s *Scheduler) fetcher(e index.Exchange) (*exchange.Fetcher, error) {
	creds, err := s.credentials(e)
	if err != nil {
		return nil, err
	}
	cfg, err := fetchConfig(e)
	if err != nil {
		return nil, err
	}
	return exchange.New(cfg, creds, s.opts.Fetch)
}

// credentials reads e's credentials from its file or variable.
func (s *Scheduler) credentials(e index.Exchange) (exchange.Credentials, error) {
	switch {
	case e.Credentials.File != "":
		return exchange.LoadCredentials(e.Credentials.File)
	case e.Credentials.Env != "":
		v := s.opts.Getenv(e.Credentials.Env)
		if v == "" {
			return exchange.Credentials{}, fmt.Errorf("%w: environment variable %s is unset or empty", exchange.ErrConfig, e.Credentials.Env)
		}
		return exchange.ParseCredentials(v)
	}
	return exchange.Credentials{}, nil
}

// The settings of an exchange (index.Exchange.Settings) and the
// exchange.Config fields they set.
const (
	settingPrivacyGroup = "privacy_group"
	settingAPIVersion   = "api_version"
	settingTypes        = "types"
	settingIdeology     = "ideology"
	settingFormat       = "format"
	settingPageSize     = "page_size"
	settingPartner      = "partner"
	settingSince        = "since"
)

var settingNames = []string{settingPrivacyGroup, settingAPIVersion, settingTypes, settingIdeology,
	settingFormat, settingPageSize, settingPartner, settingSince}

// fetchConfig returns the fetcher's configuration of e. Errors wrap
// exchange.ErrConfig and name the setting.
func fetchConfig(e index.Exchange) (exchange.Config, error) {
	cfg := exchange.Config{Kind: exchange.Kind(e.Kind), BaseURL: e.BaseURL, Partner: e.Name}
	for k, v := range e.Settings {
		switch k {
		case settingPrivacyGroup:
			cfg.PrivacyGroup = v
		case settingAPIVersion:
			cfg.APIVersion = v
		case settingTypes:
			for t := range strings.SplitSeq(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					cfg.Types = append(cfg.Types, t)
				}
			}
		case settingIdeology:
			cfg.Ideology = v
		case settingFormat:
			f, err := hashlist.ParseFormat(v)
			if err != nil {
				return cfg, fmt.Errorf("%w: setting format: %v", exchange.ErrConfig, err)
			}
			cfg.Format = f
		case settingPageSize:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100000 {
				return cfg, fmt.Errorf("%w: setting page_size %q, want 0..100000", exchange.ErrConfig, v)
			}
			cfg.PageSize = n
		case settingPartner:
			cfg.Partner = v
		case settingSince:
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return cfg, fmt.Errorf("%w: setting since %q, want an RFC 3339 time", exchange.ErrConfig, v)
			}
			cfg.Since = t
		default:
			return cfg, fmt.Errorf("%w: unknown setting %q, want one of %s", exchange.ErrConfig, k, strings.Join(settingNames, ", "))
		}
	}
	return cfg, nil
}

// Add stores the exchange e, with the credentials secret (if not empty)
// written to a file of mode 0600 in the credentials dir, after checking
// that a fetcher can be made of the configuration and credentials.
// Errors: those of exchange.New and ParseCredentials (wrapping
// exchange.ErrConfig; their text never holds the secret), and those of
// the store's CreateExchange.
func (s *Scheduler) Add(ctx context.Context, e index.Exchange, secret string) (index.Exchange, error) {
	var creds exchange.Credentials
	var err error
	switch {
	case secret != "" && e.Credentials.Env != "":
		return index.Exchange{}, fmt.Errorf("%w: both credentials and an environment variable, want one", exchange.ErrConfig)
	case secret != "":
		if s.opts.CredentialsDir == "" {
			return index.Exchange{}, fmt.Errorf("%w: this server stores no credentials; name an environment variable instead", exchange.ErrConfig)
		}
		if creds, err = exchange.ParseCredentials(secret); err != nil {
			return index.Exchange{}, err
		}
	case e.Credentials.Env != "":
		// The variable may be set only where the server runs: it is read
		// at each run, and a missing one shows in the status then.
		if v := s.opts.Getenv(e.Credentials.Env); v != "" {
			if creds, err = exchange.ParseCredentials(v); err != nil {
				return index.Exchange{}, err
			}
		}
	}
	cfg, err := fetchConfig(e)
	if err != nil {
		return index.Exchange{}, err
	}
	// Without the variable's value here only the configuration can be
	// checked: a fetcher is made with credentials whenever they are known.
	if secret != "" || e.Credentials.Env == "" || s.opts.Getenv(e.Credentials.Env) != "" {
		if _, err := exchange.New(cfg, creds, s.opts.Fetch); err != nil {
			return index.Exchange{}, err
		}
	}
	var path string
	if secret != "" {
		if err := mediamatch.ValidateBankName("exchange.name", e.Name); err != nil {
			return index.Exchange{}, err
		}
		// The file is written before the exchange is created: an add of
		// a name taken must fail before it replaces that exchange's
		// credentials. Adds and deletes of one name take turns.
		m := s.lock(e.Name)
		m.Lock()
		defer m.Unlock()
		if _, err := s.st.GetExchange(ctx, e.Name); err == nil {
			return index.Exchange{}, mediamatch.Errorf(mediamatch.AlreadyExists, "exchange.name", "exchange %q", e.Name)
		} else if !errors.Is(err, mediamatch.ErrNotFound) {
			return index.Exchange{}, err
		}
		if err := os.MkdirAll(s.opts.CredentialsDir, 0o700); err != nil {
			return index.Exchange{}, fmt.Errorf("exchange credentials: %w", err)
		}
		path = filepath.Join(s.opts.CredentialsDir, e.Name+".credentials")
		e.Credentials.File = path
		if err := writePrivate(path, []byte(secret)); err != nil {
			return index.Exchange{}, err
		}
	}
	out, err := s.st.CreateExchange(ctx, e)
	if err != nil && path != "" && !errors.Is(err, mediamatch.ErrAlreadyExists) {
		os.Remove(path)
	}
	return out, err
}

// writePrivate writes data to path with mode 0600 through a temporary
// file renamed into place, so that a crash leaves the old file or the new
// one, never a part.
func writePrivate(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("exchange credentials: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("exchange credentials: %w", err)
	}
	return nil
}

// Delete deletes the exchange name and its credentials file, after
// waiting for a run of it to end.
func (s *Scheduler) Delete(ctx context.Context, name string) error {
	m := s.lock(name)
	m.Lock()
	defer m.Unlock()
	e, err := s.st.GetExchange(ctx, name)
	if err != nil {
		return err
	}
	if err := s.st.DeleteExchange(ctx, name); err != nil {
		return err
	}
	if f := e.Credentials.File; f != "" && s.opts.CredentialsDir != "" && filepath.Dir(f) == filepath.Clean(s.opts.CredentialsDir) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("exchange deleted, its credentials file not", slog.String("exchange", name), slog.String("file", f), slog.Any("err", err))
		}
	}
	return nil
}
