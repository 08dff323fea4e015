package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mediamatch/mediamatch/client"
)

// connFlags are the client's credentials: a token, and TLS.
type connFlags struct {
	token               string
	tls                 bool
	ca, cert, key, name string
}

func (f *connFlags) flags(pf *pflag.FlagSet) {
	pf.StringVar(&f.token, "token", "", "API token (default $"+EnvToken+", which keeps it out of the process list)")
	pf.BoolVar(&f.tls, "tls", false, "connect with TLS, trusting the system's CAs (implied by --tls-ca, --tls-cert)")
	pf.StringVar(&f.ca, "tls-ca", "", "PEM file of the CA that signed the server's certificate")
	pf.StringVar(&f.cert, "tls-cert", "", "PEM file of this client's certificate, for mutual TLS (with --tls-key)")
	pf.StringVar(&f.key, "tls-key", "", "PEM file of this client's private key (with --tls-cert)")
	pf.StringVar(&f.name, "tls-server-name", "", "name to verify the server's certificate against (default: the host of --server)")
}

// dialOptions returns the transport and per-call credentials for server:
// TLS when any TLS flag is given, plaintext otherwise; the token of
// --token, else envToken. A token is sent over plaintext only to a
// loopback server (the server refuses it from elsewhere anyway, but by
// then it would have crossed the network).
func (f *connFlags) dialOptions(server, envToken string) ([]grpc.DialOption, error) {
	secret := f.token
	if secret == "" {
		secret = strings.TrimSpace(envToken)
	}
	useTLS := f.tls || f.ca != "" || f.cert != "" || f.key != "" || f.name != ""
	var opts []grpc.DialOption
	if useTLS {
		cfg, err := f.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if secret != "" {
		local := loopbackTarget(server)
		if !useTLS && !local {
			return nil, usageError{fmt.Errorf("refusing to send the token without TLS to %s: give --tls-ca "+
				"(or --tls); only a loopback server takes tokens over plaintext", server)}
		}
		opts = append(opts, grpc.WithPerRPCCredentials(client.TokenCredentials(secret, !useTLS && local)))
	}
	return opts, nil
}

func (f *connFlags) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.name}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", f.ca)
		}
	}
	if (f.cert == "") != (f.key == "") {
		return nil, usageError{fmt.Errorf("--tls-cert and --tls-key go together")}
	}
	if f.cert != "" {
		c, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.cert, f.key, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// loopbackTarget reports whether the gRPC target names this host: a
// loopback address, localhost, or a Unix socket.
func loopbackTarget(target string) bool {
	if strings.HasPrefix(target, "unix:") {
		return true
	}
	for _, scheme := range []string{"dns:///", "passthrough:///"} {
		target = strings.TrimPrefix(target, scheme)
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = target
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
