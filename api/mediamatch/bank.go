package mediamatch

import "time"

// Bank is a named list of known items.
type Bank struct {
	Name        string
	Description string
	CreateTime  time.Time
	ItemCount   int64 // the items in the bank, when read back
}

// Item is one known piece of media in a bank.
type Item struct {
	Bank       string
	ID         string
	Labels     map[string]string
	Disabled   bool
	Media      Media
	CreateTime time.Time
	UpdateTime time.Time
	// Source is where an imported item came from; nil for items added
	// directly, and for callers below curator.
	Source *Source
}

// Source is the provenance of an item imported from a partner's hash list.
type Source struct {
	Format     string    // the hash-list format it was read from, e.g. "te-updates"
	Partner    string    // the collaboration, member or owner that shared it
	UpstreamID string    // the item's id in the partner's list, if it has one
	Tags       []string  // the partner's own tag strings, as given
	FirstSeen  time.Time // when an import first carried it
	Updated    time.Time // when the partner last changed it, or an import last changed it
}

// ItemUpdate says what an update of an item changes: the labels (replaced
// whole) when SetLabels, the disabled flag when SetDisabled.
type ItemUpdate struct {
	Labels   map[string]string
	Disabled bool

	SetLabels   bool
	SetDisabled bool
}

// ImportStats counts what an import of a list did to a bank.
type ImportStats struct {
	Added     int64 // new items
	Updated   int64 // items whose media, labels or source changed
	Deleted   int64 // items removed by delete records
	Unchanged int64 // records already true of the bank, and deletes of absent items
}
