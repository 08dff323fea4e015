package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"google.golang.org/grpc/credentials"
)

// TLSCredentials returns the server's TLS from PEM files: its certificate
// chain and key, and, when clientCAFile is set, the CA certificates that
// client certificates must chain to: then every connection must present a
// valid client certificate (mutual TLS), and the handshake fails
// otherwise. TLS 1.2 is the least version accepted. Errors name the file
// that cannot be read or parsed.
func TLSCredentials(certFile, keyFile, clientCAFile string) (credentials.TransportCredentials, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("server: TLS needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("server: TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("server: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server: client CA %s: no PEM certificate in it", clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(cfg), nil
}

// ParseClientRoles reads "CN=ROLE" specs (`serve --client-role`): a
// verified client certificate whose subject common name is CN gets ROLE
// (matcher, moderator, curator or admin). The CN may itself hold "=": the
// spec splits at the last one. Errors name the bad spec.
func ParseClientRoles(specs []string) (map[string]mediamatch.Role, error) {
	out := make(map[string]mediamatch.Role, len(specs))
	for _, spec := range specs {
		i := strings.LastIndexByte(spec, '=')
		if i <= 0 {
			return nil, fmt.Errorf("client role %q: want CN=ROLE", spec)
		}
		cn, role := spec[:i], mediamatch.Role(strings.ToLower(strings.TrimSpace(spec[i+1:])))
		if !role.Valid() {
			return nil, fmt.Errorf("client role %q: role %q, want one of %v", spec, role, mediamatch.Roles())
		}
		if prev, ok := out[cn]; ok && prev != role {
			return nil, fmt.Errorf("client role %q: CN %q already has role %s", spec, cn, prev)
		}
		out[cn] = role
	}
	return out, nil
}
