package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc/credentials"
)

// TokenCredentials returns per-call credentials that send secret as the
// metadata "authorization: Bearer <secret>"; give them to
// grpc.WithPerRPCCredentials. Unless allowPlaintext, they refuse to be
// sent over a connection without TLS (the call fails before anything is
// sent); set it only for a server on loopback, which is the only place a
// server accepts tokens over plaintext. Safe for concurrent use.
func TokenCredentials(secret string, allowPlaintext bool) credentials.PerRPCCredentials {
	return tokenCreds{secret: secret, plaintext: allowPlaintext}
}

type tokenCreds struct {
	secret    string
	plaintext bool
}

func (c tokenCreds) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if !c.plaintext {
		ri, _ := credentials.RequestInfoFromContext(ctx)
		if err := credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity); err != nil {
			return nil, fmt.Errorf("client: refusing to send a token without TLS: %w", err)
		}
	}
	return map[string]string{"authorization": "Bearer " + c.secret}, nil
}

// RequireTransportSecurity is false so that loopback servers can be
// reached over plaintext; GetRequestMetadata checks the transport itself.
func (c tokenCreds) RequireTransportSecurity() bool { return false }
