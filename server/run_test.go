package server

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

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
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		done <- Run(ctx, Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slogTo(logs),
			FFmpeg: ffmpegPath(), Ready: func(a net.Addr) { ready <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v\n%s", err, logs.String())
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
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
	return conn, stop
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
