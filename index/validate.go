package index

import (
	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Limits of the index's own API; the domain's limits (names, ids, labels,
// media) are mediamatch's, beside its validators.
const (
	MaxPageSize            = 1000
	DefaultPageSize        = 100
	DefaultMaxMatchResults = 100
)

// invalidf returns an *mediamatch.Error of code Invalid about field whose
// text says what was wrong and what was wanted.
func invalidf(field, format string, args ...any) error {
	return mediamatch.Errorf(mediamatch.Invalid, field, format, args...)
}

// validatePageSize returns the page size to use for n.
func validatePageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, invalidf("page_size", "%d, want 0..%d", n, MaxPageSize)
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return n, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
