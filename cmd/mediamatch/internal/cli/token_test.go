package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runEnv runs the command line in process against addr with the given
// environment (beyond $MEDIAMATCH_SERVER).
func runEnv(t *testing.T, addr string, env map[string]string, args ...string) output {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
		if k == EnvServer {
			return addr
		}
		return env[k]
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	code := a.main(ctx, args)
	return output{code, stdout.String(), stderr.String()}
}

// TestTokenCommands walks through the token life cycle against a real
// server: the first admin token made over the API of an open loopback
// server turns authentication on; calls without it are refused with a
// hint; a matcher token cannot list banks; the audit log shows the
// curator and admin actions; a revoked token stops working.
func TestTokenCommands(t *testing.T) {
	addr := startServer(t)
	must := func(env map[string]string, args ...string) output {
		t.Helper()
		out := runEnv(t, addr, env, args...)
		if out.code != 0 {
			t.Fatalf("mediamatch %v: exit %d, stderr %q", args, out.code, out.stderr)
		}
		return out
	}
	out := must(nil, "token", "create", "--name", "ops", "--role", "admin")
	admin := strings.TrimSpace(out.stdout)
	if !strings.HasPrefix(admin, "mmt_") || strings.Count(out.stdout, "\n") != 1 || !strings.Contains(out.stderr, "role admin, every bank") {
		t.Fatalf("token create: stdout %q, stderr %q; want the secret alone on stdout and the token described on stderr", out.stdout, out.stderr)
	}
	asAdmin := map[string]string{EnvToken: admin}

	out = runEnv(t, addr, nil, "bank", "list")
	if out.code != 1 || !strings.Contains(out.stderr, "unauthenticated: missing credentials") || !strings.Contains(out.stderr, EnvToken) {
		t.Errorf("bank list without a token: exit %d, stderr %q; want unauthenticated with a hint", out.code, out.stderr)
	}
	must(asAdmin, "bank", "create", "tve")
	must(nil, "--token", admin, "bank", "list")

	out = must(asAdmin, "--json", "token", "create", "--name", "gw", "--role", "matcher", "--bank", "tve", "--expires-in", "24h")
	var created struct {
		Token  jsonToken `json:"token"`
		Secret string    `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out.stdout), &created); err != nil || created.Token.Role != "matcher" ||
		created.Token.ExpireTime == nil || !strings.HasPrefix(created.Secret, "mmt_") {
		t.Fatalf("token create --json = %q (%v)", out.stdout, err)
	}
	asMatcher := map[string]string{EnvToken: created.Secret}
	out = runEnv(t, addr, asMatcher, "bank", "list")
	if out.code != 1 || !strings.Contains(out.stderr, "permission denied") || !strings.Contains(out.stderr, "needs moderator") {
		t.Errorf("bank list as a matcher: exit %d, stderr %q; want permission denied", out.code, out.stderr)
	}
	if out := must(asAdmin, "token", "list"); !strings.Contains(out.stdout, "ops") || !strings.Contains(out.stdout, "gw") ||
		!strings.Contains(out.stdout, "expires") || strings.Contains(out.stdout, "mmt_") {
		t.Errorf("token list = %q", out.stdout)
	}
	must(asAdmin, "token", "revoke", created.Token.ID)
	out = runEnv(t, addr, asMatcher, "token", "list")
	if out.code != 1 || !strings.Contains(out.stderr, "revoked") {
		t.Errorf("token list with a revoked token: exit %d, stderr %q; want it refused as revoked", out.code, out.stderr)
	}
	audit := must(asAdmin, "audit").stdout
	for _, want := range []string{"anonymous", "AdminService/CreateToken", "BankService/CreateBank", "tve", "AdminService/RevokeToken"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %q:\n%s", want, audit)
		}
	}
	if strings.Contains(audit, "mmt_") {
		t.Errorf("audit shows a secret:\n%s", audit)
	}
}

// TestTokenCreateOffline makes the first admin token in a data dir with
// no server, as for a fresh deployment.
func TestTokenCreateOffline(t *testing.T) {
	dir := t.TempDir()
	out := run(t, "127.0.0.1:1", "token", "create", "--data", dir, "--name", "ops", "--role", "admin")
	if out.code != 0 || !strings.HasPrefix(out.stdout, "mmt_") {
		t.Fatalf("token create --data: exit %d, stdout %q, stderr %q", out.code, out.stdout, out.stderr)
	}
	out = run(t, "127.0.0.1:1", "token", "create", "--data", filepath.Join(dir, "nope"), "--name", "ops", "--role", "admin")
	if out.code != 1 || !strings.Contains(out.stderr, "does not exist") {
		t.Errorf("token create --data of a missing dir: exit %d, stderr %q", out.code, out.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); err == nil {
		t.Error("token create --data made the missing dir")
	}
}

func TestConnectionUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--server", "192.0.2.1:7878", "--token", "mmt_x", "bank", "list"}, "refusing to send the token without TLS"},
		{[]string{"--tls-cert", "c.pem", "bank", "list"}, "--tls-cert and --tls-key go together"},
		{[]string{"token", "create", "--name", "x", "--role", "root"}, `--role "root"`},
		{[]string{"token", "create", "--role", "admin"}, `required flag(s) "name"`},
		{[]string{"serve", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"serve", "--client-ca", "ca.pem"}, "need TLS"},
		{[]string{"serve", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--client-role", "x=admin"}, "--client-role needs --client-ca"},
		{[]string{"serve", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--client-ca", "ca.pem", "--client-role", "x=root"}, `role "root"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := run(t, "127.0.0.1:1", tt.args...)
			if out.code != 2 || !strings.Contains(out.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", out.code, out.stderr, tt.want)
			}
		})
	}
}

func TestLoopbackTarget(t *testing.T) {
	for target, want := range map[string]bool{
		"127.0.0.1:7878": true, "localhost:7878": true, "[::1]:7878": true, "dns:///localhost:7878": true,
		"unix:///run/mm.sock": true, "10.0.0.1:7878": false, "example.com:7878": false, "dns:///example.com:443": false,
	} {
		if got := loopbackTarget(target); got != want {
			t.Errorf("loopbackTarget(%q) = %v, want %v", target, got, want)
		}
	}
}
