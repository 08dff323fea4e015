package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/fingerprint"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

func TestRunRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:7878", "example.com:7878", "nonsense"} {
		t.Run(addr, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			err := Run(t.Context(), Config{DataDir: dir, Listen: addr})
			if err == nil || !strings.Contains(err.Error(), addr) {
				t.Fatalf("Run(Listen: %q) = %v, want an error naming the address", addr, err)
			}
			if _, statErr := os.Stat(dir); statErr == nil {
				t.Errorf("Run(Listen: %q) created the data dir before refusing", addr)
			}
			t.Log(err)
		})
	}
}

// startRun runs Run on a free loopback port and returns a connection to it
// and a function that stops it and returns Run's result.
func startRun(t *testing.T, dir string) (*grpc.ClientConn, func() error) {
	t.Helper()
	conn, _, stop := startRunWith(t, Config{DataDir: dir, FFmpeg: ffmpegPath()},
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	return conn, stop
}

// startRunWith is startRun with the given Config (Listen, Logger and Ready
// are set here) and transport credentials; it also returns Run's log.
func startRunWith(t *testing.T, cfg Config, creds grpc.DialOption) (*grpc.ClientConn, *mmtest.SyncBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	logs := &mmtest.SyncBuffer{}
	cfg.Listen, cfg.Logger, cfg.Ready = "127.0.0.1:0", slogTo(logs), func(a net.Addr) { ready <- a }
	go func() { done <- Run(ctx, cfg) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v\n%s", err, logs.String())
	}
	conn, err := grpc.NewClient(addr.String(), creds)
	if err != nil {
		t.Fatal(err)
	}
	stop := func() error {
		conn.Close()
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute):
			t.Fatal("Run did not return within a minute of cancel")
			return nil
		}
	}
	return conn, logs, stop
}

func TestRunServesAndStops(t *testing.T) {
	dir := t.TempDir()
	conn, stop := startRun(t, dir)
	ctx := t.Context()

	hc := healthpb.NewHealthClient(conn)
	for _, name := range append(ServiceNames(), "") {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q = %v, %v; want SERVING", name, resp.GetStatus(), err)
		}
	}

	rc, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := rc.Recv()
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	var services []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	for _, want := range ServiceNames() {
		if !slices.Contains(services, want) {
			t.Errorf("reflection lists %v, want %s", services, want)
		}
	}
	rc.CloseSend()

	bank := pb.NewBankServiceClient(conn)
	if _, err := bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "kept"}}); err != nil {
		t.Fatalf("CreateBank: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}

	// The bank survives a restart on the same data dir.
	conn, stop = startRun(t, dir)
	if _, err := pb.NewBankServiceClient(conn).GetBank(ctx, &pb.GetBankRequest{Name: "kept"}); err != nil {
		t.Errorf("GetBank after restart: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

// TestRunBootstrapsWithTLS runs Run with TLS from files: since TLS
// requires authentication and the index holds no token, Run creates an
// admin token and writes its secret to a 0600 file in the data dir,
// logging the file but never the secret. Health checking needs no
// credentials; reflection and the API do; the secret works; a restart
// makes no second token.
func TestRunBootstrapsWithTLS(t *testing.T) {
	pki := newPKI(t, "test CA")
	certFile, keyFile := pki.issueFiles(t, "localhost", true)
	creds, err := TLSCredentials(certFile, keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := func() (*grpc.ClientConn, *mmtest.SyncBuffer, func()) {
		conn, logs, stop := startRunWith(t, Config{DataDir: dir, Credentials: creds}, grpc.WithTransportCredentials(
			credentials.NewTLS(&tls.Config{RootCAs: pki.pool, ServerName: "localhost"})))
		return conn, logs, func() {
			if err := stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	conn, logs, stop := start()
	ctx := t.Context()
	path := filepath.Join(dir, BootstrapTokenFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no bootstrap token file: %v\n%s", err, logs.String())
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("bootstrap token file mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(b))
	if !strings.HasPrefix(secret, "mmt_") {
		t.Fatalf("bootstrap token file holds %q, want a secret", secret)
	}
	if l := logs.String(); !strings.Contains(l, path) || strings.Contains(l, secret) {
		t.Errorf("log should name %s and never the secret:\n%s", path, l)
	}

	if resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil ||
		resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check without credentials = %v, %v; want SERVING", resp, err)
	}
	rc, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err == nil {
		rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		_, err = rc.Recv()
	}
	wantStatus(t, err, codes.Unauthenticated, "missing credentials")
	_, err = pb.NewBankServiceClient(conn).ListBanks(ctx, &pb.ListBanksRequest{})
	wantStatus(t, err, codes.Unauthenticated, "missing credentials")
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
	if _, err := pb.NewBankServiceClient(conn).CreateBank(actx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Errorf("CreateBank with the bootstrap token: %v", err)
	}
	stop()

	// The server removes the file at the token's first use.
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	_, logs, stop = start()
	stop()
	if _, err := os.Stat(path); err == nil || strings.Contains(logs.String(), BootstrapTokenFile) {
		t.Errorf("a second start made another bootstrap token:\n%s", logs.String())
	}
}

// TestCreateTokenOffline makes the first admin token in a stopped
// server's data dir, as `mediamatch token create --data` does; the server
// then requires it. While the server runs, the data dir is in use and the
// offline path says so.
func TestCreateTokenOffline(t *testing.T) {
	ctx := t.Context()
	if _, _, err := CreateTokenOffline(ctx, filepath.Join(t.TempDir(), "missing"),
		mediamatch.Token{Name: "ops", Role: mediamatch.RoleAdmin}, "tester"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("CreateTokenOffline in a missing dir = %v, want an error saying so", err)
	}
	dir := t.TempDir()
	tok, secret, err := CreateTokenOffline(ctx, dir, mediamatch.Token{Name: "ops", Role: mediamatch.RoleAdmin}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Role != mediamatch.RoleAdmin || !strings.HasPrefix(secret, "mmt_") {
		t.Errorf("CreateTokenOffline = %+v, %q", tok, secret)
	}
	conn, stop := startRun(t, dir)
	defer stop()
	if _, _, err := CreateTokenOffline(ctx, dir, mediamatch.Token{Name: "two", Role: mediamatch.RoleAdmin}, "tester"); err == nil ||
		!strings.Contains(err.Error(), "running") {
		t.Errorf("CreateTokenOffline while the server runs = %v, want an error naming the running server", err)
	}
	_, err = pb.NewBankServiceClient(conn).ListBanks(ctx, &pb.ListBanksRequest{})
	wantStatus(t, err, codes.Unauthenticated, "missing credentials")
	admin := pb.NewAdminServiceClient(conn)
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
	resp, err := admin.ListAuditEntries(actx, &pb.ListAuditEntriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if es := resp.GetEntries(); len(es) == 0 || es[0].GetActor() != "offline (tester)" || es[0].GetTarget() != "name ops" {
		t.Errorf("audit log = %v, want the offline creation first", es)
	}
}

// TestRunLogsConfinement: Run says at start how far ffmpeg is confined,
// as the hasher finds it on this machine.
func TestRunLogsConfinement(t *testing.T) {
	ff := mmtest.FFmpeg(t)
	_, logs, stop := startRunWith(t, Config{DataDir: t.TempDir(), FFmpeg: ff}, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	h := fingerprint.New(fingerprint.Options{FFmpeg: ff})
	files, net := h.FileAccessConfined(), h.NetworkIsolated()
	msg := `msg="ffmpeg confined"`
	if !files || !net {
		msg = `msg="ffmpeg runs less confined than it could`
	}
	want := fmt.Sprintf("file_access=%v network=%v", files, net)
	var line string
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, msg) {
			line = l
		}
	}
	if !strings.Contains(line, want) {
		t.Errorf("Run's log has no line %s ... %s:\n%s", msg, want, logs.String())
	}
}
