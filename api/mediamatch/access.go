package mediamatch

import (
	"slices"
	"time"
)

// Role is what an API token or client certificate may do. Each role
// includes the ones before it.
type Role string

// The roles, from least to most.
const (
	RoleMatcher   Role = "matcher"   // match and hash: what an upload path gets
	RoleModerator Role = "moderator" // and read banks, items and their labels
	RoleCurator   Role = "curator"   // and manage banks, items, imports and exports
	RoleAdmin     Role = "admin"     // and tokens and the audit log
)

// Roles returns the roles from least to most.
func Roles() []Role { return []Role{RoleMatcher, RoleModerator, RoleCurator, RoleAdmin} }

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// Includes reports whether r may do what o may.
func (r Role) Includes(o Role) bool {
	return r.Valid() && o.Valid() && slices.Index(Roles(), r) >= slices.Index(Roles(), o)
}

// Token is an API token as stored and listed: never its secret.
type Token struct {
	ID         string    // public identifier, "tok_" and 16 hex digits
	Name       string    // who or what it is for, 1..128 bytes
	Role       Role      // what it may do
	Banks      []string  // the banks it may use; empty: all
	CreateTime time.Time //
	ExpireTime time.Time // zero: never expires
	RevokeTime time.Time // zero: not revoked
}

// CanUse reports whether t may use bank.
func (t Token) CanUse(bank string) bool { return len(t.Banks) == 0 || slices.Contains(t.Banks, bank) }

// Within reports whether t is within scope, the banks of an admin: every
// token is within an empty scope (an unlimited admin); otherwise t must be
// limited to banks that are all in scope. A token for every bank is
// within no limited scope.
func (t Token) Within(scope []string) bool {
	if len(scope) == 0 {
		return true
	}
	if len(t.Banks) == 0 {
		return false
	}
	for _, b := range t.Banks {
		if !slices.Contains(scope, b) {
			return false
		}
	}
	return true
}

// AuditEntry is one change made through the API: who made it, what, and
// when. It never holds media or hashes, only names.
type AuditEntry struct {
	Time   time.Time // when it was recorded
	Actor  string    // "tok_... (name)", "cert CN=...", "anonymous", "offline (user)"
	Role   Role      // the actor's role
	Action string    // the RPC, e.g. "BankService/DeleteBank"
	Target string    // what it acted on: a bank, bank/item, a token id
	Detail string    // the outcome or the counts, e.g. "ok" or "added=10 deleted=2"
}
