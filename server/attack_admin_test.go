package server

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
)

// sliceCTokenID returns the id of the token whose secret this is.
func sliceCTokenID(t *testing.T, ix *index.Index, secret string) string {
	t.Helper()
	tok, err := ix.Authenticate(secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID
}

// TestAttackScopedAdmin is issue 11 point 7: an admin limited to bank a
// must not see tokens beyond its banks, revoke them, or read the audit
// entries of other banks and other admins, over the real server and guard.
func TestAttackScopedAdmin(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{})
	conn := e.conn(t, nil)
	bank, admin := pb.NewBankServiceClient(conn), pb.NewAdminServiceClient(conn)
	rootSecret := e.token(t, "root", index.RoleAdmin)
	root := as(ctx, rootSecret)
	for _, b := range []string{"a", "b"} {
		if _, err := bank.CreateBank(root, &pb.CreateBankRequest{Bank: &pb.Bank{Name: b}}); err != nil {
			t.Fatal(err)
		}
		if _, err := bank.AddItem(root, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: b, Id: "secret-" + b},
			Source: &pb.AddItemRequest_Media{Media: pdqMedia(t, pdqHex(t, 1)[0])}}); err != nil {
			t.Fatal(err)
		}
	}
	scopedSecret := e.token(t, "partner-a", index.RoleAdmin, "a")
	scoped := as(ctx, scopedSecret)
	matcherA := e.token(t, "gateway-a", index.RoleMatcher, "a")
	matcherB := e.token(t, "gateway-b", index.RoleMatcher, "b")
	matcherAB := e.token(t, "gateway-ab", index.RoleMatcher, "a", "b")
	rootID, scopedID := sliceCTokenID(t, e.ix, rootSecret), sliceCTokenID(t, e.ix, scopedSecret)
	aID, bID, abID := sliceCTokenID(t, e.ix, matcherA), sliceCTokenID(t, e.ix, matcherB), sliceCTokenID(t, e.ix, matcherAB)

	// The scoped admin acts in its bank: an entry it must see.
	if _, err := bank.DeleteItem(scoped, &pb.DeleteItemRequest{Bank: "a", Id: "secret-a"}); err != nil {
		t.Fatal(err)
	}

	list, err := admin.ListTokens(scoped, &pb.ListTokensRequest{})
	if err != nil {
		t.Fatalf("ListTokens as scoped admin: %v", err)
	}
	var seen []string
	for _, tok := range list.GetTokens() {
		seen = append(seen, tok.GetId())
	}
	slices.Sort(seen)
	want := []string{scopedID, aID}
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Errorf("ListTokens as admin of a = %v, want only the tokens limited to a: %v (root %s, b %s, ab %s)",
			seen, want, rootID, bID, abID)
	}

	// Revoking a token outside its banks: NotFound, exactly as for an id
	// that does not exist, and the token still works.
	_, errAbsent := admin.RevokeToken(scoped, &pb.RevokeTokenRequest{Id: "tok_0000000000000000"})
	wantStatus(t, errAbsent, codes.NotFound)
	for _, id := range []string{rootID, bID, abID} {
		_, err := admin.RevokeToken(scoped, &pb.RevokeTokenRequest{Id: id})
		st := wantStatus(t, err, codes.NotFound)
		if strings.Contains(st.Message(), "root") || strings.Contains(st.Message(), "gateway") {
			t.Errorf("RevokeToken(%s) message %q names the token", id, st.Message())
		}
	}
	if _, err := bank.ListBanks(root, &pb.ListBanksRequest{}); err != nil {
		t.Fatalf("root token no longer works after the scoped admin's attempt: %v", err)
	}
	if _, err := admin.RevokeToken(scoped, &pb.RevokeTokenRequest{Id: aID}); err != nil {
		t.Errorf("RevokeToken of a token limited to a, as admin of a: %v", err)
	}

	// The audit log: its own entries and those of bank a only.
	var entries []*pb.AuditEntry
	for token := ""; ; {
		resp, err := admin.ListAuditEntries(scoped, &pb.ListAuditEntriesRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListAuditEntries as scoped admin: %v", err)
		}
		entries = append(entries, resp.GetEntries()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	sawOwn, sawRootInA := false, false
	for _, en := range entries {
		line := en.GetActor() + "|" + en.GetAction() + "|" + en.GetTarget() + "|" + en.GetDetail()
		own := strings.HasPrefix(en.GetActor(), scopedID)
		inA := en.GetTarget() == "a" || strings.HasPrefix(en.GetTarget(), "a/")
		if !own && !(inA && strings.HasPrefix(en.GetAction(), "BankService/")) {
			t.Errorf("admin of a sees audit entry %q", line)
		}
		sawOwn = sawOwn || own
		sawRootInA = sawRootInA || (strings.HasPrefix(en.GetActor(), rootID) && inA)
	}
	if !sawOwn || !sawRootInA {
		t.Errorf("admin of a sees %d entries, own ones %t, root's in bank a %t: want both", len(entries), sawOwn, sawRootInA)
	}
	// The unlimited admin still sees everything.
	all, err := admin.ListAuditEntries(root, &pb.ListAuditEntriesRequest{PageSize: 1000})
	if err != nil || len(all.GetEntries()) <= len(entries) {
		t.Errorf("ListAuditEntries as root = %d entries, %v; want more than the %d of the admin of a", len(all.GetEntries()), err, len(entries))
	}
	if all, err := admin.ListTokens(root, &pb.ListTokensRequest{}); err != nil || len(all.GetTokens()) != 5 {
		t.Errorf("ListTokens as root = %d tokens, %v; want 5", len(all.GetTokens()), err)
	}
}

// TestAttackListBanksPages is issue 11 point 8: a caller limited to some
// banks pages through ListBanks without empty pages and without page
// tokens that name, or count, the other banks.
func TestAttackListBanksPages(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{})
	bank := pb.NewBankServiceClient(e.conn(t, nil))
	root := as(ctx, e.token(t, "root", index.RoleAdmin))
	names := []string{"a1", "hidden-b", "hidden-c", "hidden-d", "m2", "hidden-x", "hidden-y", "z3"}
	for _, b := range names {
		if _, err := bank.CreateBank(root, &pb.CreateBankRequest{Bank: &pb.Bank{Name: b}}); err != nil {
			t.Fatal(err)
		}
	}
	scoped := as(ctx, e.token(t, "partner", index.RoleModerator, "a1", "m2", "z3"))
	var got []string
	pages := 0
	for token := ""; ; {
		resp, err := bank.ListBanks(scoped, &pb.ListBanksRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatalf("ListBanks page %d: %v", pages, err)
		}
		pages++
		if len(resp.GetBanks()) != 1 {
			t.Errorf("page %d holds %d banks, want 1 (no empty pages: they count the hidden banks)", pages, len(resp.GetBanks()))
		}
		for _, b := range resp.GetBanks() {
			got = append(got, b.GetName())
		}
		token = resp.GetNextPageToken()
		raw, _ := base64.RawURLEncoding.DecodeString(token)
		for _, s := range []string{token, string(raw)} {
			for _, n := range names {
				if strings.Contains(s, n) {
					t.Errorf("page token %q (%q) names bank %s", token, raw, n)
				}
			}
		}
		if token == "" || pages > len(names)+1 {
			break
		}
	}
	if want := []string{"a1", "m2", "z3"}; !slices.Equal(got, want) || pages != 3 {
		t.Errorf("ListBanks limited to a1, m2, z3 = %v in %d pages, want %v in 3", got, pages, want)
	}
	// A token from a page of one caller serves only to continue a listing:
	// a garbage or forged token is InvalidArgument.
	forged := base64.RawURLEncoding.EncodeToString([]byte("bhidden-c"))
	_, err := bank.ListBanks(scoped, &pb.ListBanksRequest{PageSize: 1, PageToken: forged})
	wantStatus(t, err, codes.InvalidArgument, "ListBanksRequest.page_token")
	_ = context.Background
}
