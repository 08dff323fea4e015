package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// The harness of the authentication tests: a real guarded grpc.Server
// (newGRPCServer, as Run builds it) on a loopback TCP port, over a real
// Badger index with a clock the test moves, optionally with TLS from
// certificates made here.

// testClock is a clock that moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// authConfig says how to run the server of an authEnv.
type authConfig struct {
	opts Options
	// ix, if set, wraps the real index (fault injection).
	ix func(*index.Index) Index
	// pki, if set, serves TLS with a server certificate from it; with
	// clientCA, client certificates from it are required.
	pki      *testPKI
	clientCA bool
	// remote, if set, is the address every peer appears to come from
	// (see remoteListener).
	remote string
	// serverOpts are more options of the grpc.Server (interceptors that
	// observe the handlers).
	serverOpts []grpc.ServerOption
	// exchanges, if set, makes the scheduler of ExchangeService over the
	// index.
	exchanges func(*index.Index) *Scheduler
}

type authEnv struct {
	ix    *index.Index
	s     *Server
	clock *testClock
	addr  string
	pki   *testPKI
	logs  *mmtest.SyncBuffer
	// info lists the services and methods registered on the grpc.Server.
	info map[string]grpc.ServiceInfo
}

func newAuthEnv(t *testing.T, cfg authConfig) *authEnv {
	t.Helper()
	clock := newTestClock()
	ix, err := index.Open(t.TempDir(), index.Options{Now: clock.Now})
	if err != nil {
		t.Fatalf("index.Open: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	logs := &mmtest.SyncBuffer{}
	opts := cfg.opts
	opts.Logger = slogTo(logs)
	opts.Now = clock.Now
	if cfg.exchanges != nil {
		opts.Exchanges = cfg.exchanges(ix)
	}
	var sx Index = ix
	if cfg.ix != nil {
		sx = cfg.ix(ix)
	}
	s := New(sx, fingerprint.New(fingerprint.Options{FFmpeg: ffmpegPath()}), opts)
	extra := append([]grpc.ServerOption(nil), cfg.serverOpts...)
	if cfg.pki != nil {
		cert, key := cfg.pki.issueFiles(t, "localhost", true)
		ca := ""
		if cfg.clientCA {
			ca = cfg.pki.caFile
		}
		creds, err := TLSCredentials(cert, key, ca)
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, grpc.Creds(creds))
	}
	gs, _ := newGRPCServer(s, extra...)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if cfg.remote != "" {
		lis = &remoteListener{Listener: lis, remote: cfg.remote}
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return &authEnv{ix: ix, s: s, clock: clock, addr: addr, pki: cfg.pki, logs: logs, info: gs.GetServiceInfo()}
}

// token creates a token of role (limited to banks, if any) and returns
// its secret.
func (e *authEnv) token(t *testing.T, name string, role mediamatch.Role, banks ...string) string {
	t.Helper()
	_, secret, err := e.ix.CreateToken(context.Background(), mediamatch.Token{Name: name, Role: role, Banks: banks})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// conn dials the server: plaintext, or TLS trusting the test CA and
// presenting the client certificate cert when it is not nil.
func (e *authEnv) conn(t *testing.T, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if e.pki != nil {
		cfg := &tls.Config{RootCAs: e.pki.pool, ServerName: "localhost"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// as returns ctx carrying "authorization: Bearer secret" (nothing when
// secret is empty).
func as(ctx context.Context, secret string) context.Context {
	if secret == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

// remoteListener makes every accepted connection report remote as its
// peer's address: a plaintext client that is not on loopback, without
// needing a second host or a non-loopback interface.
type remoteListener struct {
	net.Listener
	remote string
}

func (l *remoteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	addr, err := net.ResolveTCPAddr("tcp", l.remote)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &remoteConn{Conn: c, remote: addr}, nil
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c *remoteConn) RemoteAddr() net.Addr { return c.remote }

// faultIndex is the real index with methods that a test may replace to
// inject faults.
type faultIndex struct {
	*index.Index
	getBank func(ctx context.Context, name string) (mediamatch.Bank, error)
}

func (f *faultIndex) GetBank(ctx context.Context, name string) (mediamatch.Bank, error) {
	if f.getBank != nil {
		return f.getBank(ctx, name)
	}
	return f.Index.GetBank(ctx, name)
}

// testPKI is a certificate authority made for one test, with its
// certificate in a PEM file.
type testPKI struct {
	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pool   *x509.CertPool
	caFile string
}

func newPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: t.TempDir(), cert: cert, key: key, pool: x509.NewCertPool()}
	p.pool.AddCert(cert)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	return p
}

// issue returns a certificate for cn signed by the CA: a server
// certificate for localhost and 127.0.0.1, or a client certificate.
func (p *testPKI) issue(t *testing.T, cn string, server bool) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c, certPEM, keyPEM
}

// issueFiles is issue, written to PEM files; it returns their paths.
func (p *testPKI) issueFiles(t *testing.T, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	_, certPEM, keyPEM := p.issue(t, cn, server)
	certFile, keyFile = filepath.Join(p.dir, cn+".pem"), filepath.Join(p.dir, cn+"-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// pdqMedia returns an image fingerprint with one PDQ signal of hash hexHash.
func pdqMedia(t *testing.T, hexHash string) *pb.Media {
	t.Helper()
	h, err := hex.DecodeString(hexHash)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_IMAGE, Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{
		{Type: pb.SignalType_SIGNAL_TYPE_PDQ, Hash: h, Quality: 90}}}}}
}
