package mediamatch

import "testing"

func TestRoles(t *testing.T) {
	for _, c := range []struct {
		r, o Role
		want bool
	}{
		{RoleAdmin, RoleMatcher, true}, {RoleCurator, RoleModerator, true}, {RoleModerator, RoleModerator, true},
		{RoleMatcher, RoleModerator, false}, {RoleCurator, RoleAdmin, false}, {"x", RoleMatcher, false}, {RoleAdmin, "x", false},
	} {
		if got := c.r.Includes(c.o); got != c.want {
			t.Errorf("%q.Includes(%q) = %v, want %v", c.r, c.o, got, c.want)
		}
	}
}

func TestTokenWithin(t *testing.T) {
	for _, c := range []struct {
		banks, scope []string
		want         bool
	}{
		{nil, nil, true},                                // an unlimited admin sees every token
		{[]string{"a"}, nil, true},                      //
		{nil, []string{"a"}, false},                     // a token for every bank is beyond a scope
		{[]string{"a"}, []string{"a", "b"}, true},       //
		{[]string{"a", "c"}, []string{"a", "b"}, false}, // one bank outside the scope
	} {
		tok := Token{Banks: c.banks}
		if got := tok.Within(c.scope); got != c.want {
			t.Errorf("Token{Banks: %q}.Within(%q) = %v, want %v", c.banks, c.scope, got, c.want)
		}
	}
	if !(Token{}).CanUse("x") || !(Token{Banks: []string{"x"}}).CanUse("x") || (Token{Banks: []string{"y"}}).CanUse("x") {
		t.Error("CanUse: want every bank for an unlimited token and only its own banks otherwise")
	}
}
