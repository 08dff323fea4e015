package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackForgedOutput: stored strings (a refused
// call's target in the audit log, labels, bank descriptions, token names)
// must not reach the terminal raw, where a newline forges a line that
// looks like an admin's and an escape sequence rewrites the screen; and
// token names with control characters are refused at creation.
func TestAttackForgedOutput(t *testing.T) {
	tmp := t.TempDir()
	bin := buildBinary(t, tmp)
	srv := startServer(t, bin, filepath.Join(tmp, "data"))
	defer srv.stop(t)
	cli := func(args ...string) result { return runCLI(t, bin, srv.addr, nil, args...) }
	const (
		forged = "2026-12-07 09:00:00  tok_0000000000000000 (root)  admin  AdminService/RevokeToken  tok_x  ok"
		esc    = "\x1b[2J\x1b[31m"
	)
	// A refused call, audited with its (bad) target.
	if r := cli("bank", "create", "x\n"+forged+esc); r.code == 0 {
		t.Fatalf("%v, want a refusal", r)
	}
	cli("bank", "create", "evil", "--description", "fine\n"+forged+esc).ok(t)
	list := filepath.Join(tmp, "labels.jsonl")
	note, _ := json.Marshal("a\n" + forged + esc)
	writeFile(t, list, []byte(fmt.Sprintf(`{"id":"x","labels":{"note":%s},"media":{"kind":"image","keyframes":[{"index":0,"signals":[{"type":"pdq","hash":"%s","quality":90}]}]}}`+"\n",
		note, strings.Repeat("5a", 32))))
	cli("import", "--bank", "evil", "--format", "jsonl", list).ok(t)

	for _, args := range [][]string{{"audit"}, {"bank", "list"}, {"item", "get", "--bank", "evil", "x"}, {"item", "list", "--bank", "evil"}, {"token", "list"}} {
		out := cli(args...).ok(t).stdout
		for i, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, forged[:20]) {
				t.Errorf("mediamatch %s: line %d is forged: %q", strings.Join(args, " "), i, line)
			}
		}
		if strings.ContainsAny(out, "\x1b\r") {
			t.Errorf("mediamatch %s prints an escape sequence raw: %q", strings.Join(args, " "), out)
		}
	}

	r := cli("token", "create", "--name", "ops"+esc, "--role", "matcher")
	if r.code == 0 || !strings.Contains(r.stderr, "printable") {
		t.Errorf("%v, want a refusal of the name's control characters", r)
	}
}
