package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// TestEndToEndAuth runs the real binary with authentication: the first
// admin token made offline in the data dir, then a loopback server that
// requires it; then the same data dir served over mutual TLS, where client
// certificates get roles by CN; then a fresh data dir over TLS, where
// serve bootstraps an admin token into a 0600 file.
func TestEndToEndAuth(t *testing.T) {
	tmp := t.TempDir()
	bin := buildBinary(t, tmp)
	data := filepath.Join(tmp, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}

	// 1. Offline bootstrap, then plaintext loopback.
	out := runCLIEnv(t, bin, "127.0.0.1:1", nil, "token", "create", "--data", data, "--name", "ops", "--role", "admin").ok(t)
	admin := strings.TrimSpace(out.stdout)
	if !strings.HasPrefix(admin, "mmt_") {
		t.Fatalf("token create --data printed %q, want the secret", out.stdout)
	}
	srv := startServerArgs(t, bin, nil, "--data", data, "--listen", "127.0.0.1:0")
	cli := func(env []string, args ...string) result { return runCLIEnv(t, bin, srv.addr, env, args...) }
	asAdmin := []string{"MEDIAMATCH_TOKEN=" + admin}
	if r := cli(nil, "bank", "list"); r.code != 1 || !strings.Contains(r.stderr, "unauthenticated") {
		t.Errorf("bank list without a token: %v, want unauthenticated", r)
	}
	cli(asAdmin, "bank", "create", "tve").ok(t)
	gw := strings.TrimSpace(cli(asAdmin, "token", "create", "--name", "gw", "--role", "matcher").ok(t).stdout)
	if r := cli([]string{"MEDIAMATCH_TOKEN=" + gw}, "item", "list", "--bank", "tve"); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("item list as a matcher: %v, want permission denied", r)
	}
	if a := cli(asAdmin, "audit").ok(t).stdout; !strings.Contains(a, "offline (") || !strings.Contains(a, "BankService/CreateBank") {
		t.Errorf("audit:\n%s\nwant the offline token creation and the bank creation", a)
	}
	srv.stop(t)

	// 2. The same data dir over mutual TLS.
	pki := newE2EPKI(t, filepath.Join(tmp, "pki"))
	srvCert, srvKey := pki.issue(t, "localhost", true)
	opsCert, opsKey := pki.issue(t, "ops-laptop", false)
	gwCert, gwKey := pki.issue(t, "upload-gw", false)
	serverTLS := &tls.Config{RootCAs: pki.pool, ServerName: "localhost"}
	opsPair, err := tls.LoadX509KeyPair(opsCert, opsKey)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS.Certificates = []tls.Certificate{opsPair}
	srv = startServerArgs(t, bin, serverTLS, "--data", data, "--listen", "127.0.0.1:0",
		"--tls-cert", srvCert, "--tls-key", srvKey, "--client-ca", pki.caFile,
		"--client-role", "ops-laptop=admin", "--client-role", "upload-gw=matcher")
	tlsCLI := func(env []string, args ...string) result {
		return runCLIEnv(t, bin, srv.addr, env, append([]string{"--tls-ca", pki.caFile, "--tls-server-name", "localhost"}, args...)...)
	}
	if r := tlsCLI(nil, "--tls-cert", opsCert, "--tls-key", opsKey, "token", "list").ok(t); !strings.Contains(r.stdout, "gw") {
		t.Errorf("token list with the admin certificate = %q", r.stdout)
	}
	if r := tlsCLI(nil, "--tls-cert", gwCert, "--tls-key", gwKey, "bank", "list"); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("bank list with the matcher certificate: %v, want permission denied", r)
	}
	if r := tlsCLI(asAdmin, "bank", "list"); r.code != 1 || !strings.Contains(r.stderr, "unavailable") {
		t.Errorf("bank list with a token but no client certificate: %v, want the handshake to fail", r)
	}
	if r := runCLIEnv(t, bin, srv.addr, asAdmin, "bank", "list"); r.code == 0 {
		t.Errorf("bank list over plaintext to a TLS server: %v, want a failure", r)
	}
	srv.stop(t)

	// 3. A fresh data dir over TLS: serve bootstraps an admin token.
	fresh := filepath.Join(tmp, "fresh")
	srv = startServerArgs(t, bin, &tls.Config{RootCAs: pki.pool, ServerName: "localhost"}, "--data", fresh,
		"--listen", "127.0.0.1:0", "--tls-cert", srvCert, "--tls-key", srvKey)
	file := filepath.Join(fresh, "bootstrap-admin-token")
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bootstrap token file: %v, %v; want mode 0600\n%s", fi, err, srv.logs.String())
	}
	b, _ := os.ReadFile(file)
	boot := strings.TrimSpace(string(b))
	if !strings.Contains(srv.logs.String(), file) || strings.Contains(srv.logs.String(), boot) {
		t.Errorf("server log should name %s and never the secret:\n%s", file, srv.logs.String())
	}
	r := runCLIEnv(t, bin, srv.addr, []string{"MEDIAMATCH_TOKEN=" + boot}, "--tls-ca", pki.caFile, "--json", "token", "list").ok(t)
	if !strings.Contains(r.stdout, `"name":"bootstrap"`) || !strings.Contains(r.stdout, `"role":"admin"`) {
		t.Errorf("token list with the bootstrap token = %q", r.stdout)
	}
	srv.stop(t)
}

// startServerArgs is startServer with serve's arguments, and TLS (when
// tlsConfig is set) for the readiness check. If the test fails, the
// server's log is logged.
func startServerArgs(t testing.TB, bin string, tlsConfig *tls.Config, args ...string) *server {
	t.Helper()
	var s *server
	// Registered before launchServer's cleanup, so run after it: the
	// server has exited and its log is whole.
	t.Cleanup(func() {
		if s != nil && t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	s = launchServer(t, bin, args...)
	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	waitServingWith(t, s.addr, grpc.WithTransportCredentials(creds))
	return s
}

// launchServer starts `mediamatch serve` with args and waits until it
// logs the address it listens on; a cleanup kills it if it still runs.
func launchServer(t testing.TB, bin string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &mmtest.SyncBuffer{}, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		for sc.Scan() {
			fmt.Fprintln(s.logs, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		io.Copy(io.Discard, stderr) // past a line too long: the server must not block on its log
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if !s.exited {
			cmd.Process.Kill()
			<-s.done
		}
	})
	select {
	case s.addr = <-addrc:
	case err := <-s.done:
		s.exited = true
		t.Fatalf("mediamatch serve exited: %v\n%s", err, s.logs.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("mediamatch serve did not log its address\n%s", s.logs.String())
	}
	return s
}

// runCLIEnv is runCLI with extra environment variables.
func runCLIEnv(t *testing.T, bin, addr string, env []string, args ...string) result {
	t.Helper()
	return runCLIWith(t, bin, addr, nil, env, args...)
}

// e2ePKI is a certificate authority made for the test, writing PEM files.
type e2ePKI struct {
	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pool   *x509.CertPool
	caFile string
}

func newE2EPKI(t *testing.T, dir string) *e2ePKI {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &e2ePKI{dir: dir, cert: cert, key: key, pool: x509.NewCertPool(), caFile: filepath.Join(dir, "ca.pem")}
	p.pool.AddCert(cert)
	writeFile(t, p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return p
}

// issue writes a certificate for cn (a server certificate for localhost
// and 127.0.0.1, or a client certificate) and its key; it returns their
// paths.
func (p *e2ePKI) issue(t *testing.T, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(p.dir, cn+".pem"), filepath.Join(p.dir, cn+"-key.pem")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	return certFile, keyFile
}

// TestEndToEndAuthByDefault: a plain `mediamatch serve` on a fresh data
// dir requires authentication from the start (only --dev opens a loopback
// server to every local process): it bootstraps an admin token into a
// 0600 file in a 0700 data dir, refuses calls without a token, and removes
// the file once the token is first used. `serve --auth=false` without
// --dev is refused.
func TestEndToEndAuthByDefault(t *testing.T) {
	tmp := t.TempDir()
	bin := buildBinary(t, tmp)
	data := filepath.Join(tmp, "data")
	if err := os.Mkdir(data, 0o755); err != nil { // as `mkdir -p` makes it
		t.Fatal(err)
	}

	srv := startServerArgs(t, bin, nil, "--data", data, "--listen", "127.0.0.1:0")
	cli := func(env []string, args ...string) result { return runCLIEnv(t, bin, srv.addr, env, args...) }
	if r := cli(nil, "bank", "list"); r.code != 1 || !strings.Contains(r.stderr, "unauthenticated") {
		t.Errorf("bank list without a token on a plain serve: %v, want unauthenticated", r)
	}
	for path, want := range map[string]os.FileMode{data: 0o700, filepath.Join(data, "bootstrap-admin-token"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %v", path, fi.Mode(), err, want)
		}
	}
	secret, err := os.ReadFile(filepath.Join(data, "bootstrap-admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	cli([]string{"MEDIAMATCH_TOKEN=" + strings.TrimSpace(string(secret))}, "bank", "create", "tve").ok(t)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(data, "bootstrap-admin-token")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bootstrap token's file is still there 30s after the token's first use")
		}
	}
	srv.stop(t)

	r := runCLIEnv(t, bin, "127.0.0.1:1", nil, "serve", "--data", filepath.Join(tmp, "other"), "--listen", "127.0.0.1:0", "--auth=false")
	if r.code == 0 || !strings.Contains(r.stderr, "--dev") {
		t.Errorf("serve --auth=false without --dev: %v, want a refusal naming --dev", r)
	}
}
