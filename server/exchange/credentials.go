package exchange

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Credentials are an exchange's secrets. What each kind needs:
//
//   - threatexchange: Token, the app's access token ("<app id>|<secret>"),
//     sent as the access_token parameter;
//   - tcap: Token, a TCAP API token sent as "Authorization: Bearer", or
//     Username and Password, exchanged for one at token-auth/tcap/;
//   - stopncii: SubscriptionKey (the Ocp-Apim-Subscription-Key header)
//     and FunctionKey (the x-functions-key header of FetchHashes);
//   - ncmec: Username and Password, sent as HTTP basic authentication;
//   - url: none, or Token (sent as a bearer token) or Username and
//     Password (basic authentication) if the server wants them.
//
// Its String, GoString and LogValue say which fields are set, never their
// values, so that printing or logging Credentials leaks nothing.
type Credentials struct {
	Token           string `json:"token,omitempty"`
	Username        string `json:"username,omitempty"`
	Password        string `json:"password,omitempty"`
	SubscriptionKey string `json:"subscription_key,omitempty"`
	FunctionKey     string `json:"function_key,omitempty"`
}

// MaxCredentialsBytes bounds a credentials file and a secret sent to the
// server (AddExchangeRequest.credentials_secret).
const MaxCredentialsBytes = 64 << 10

// ReadCredentialsFile returns the content of the credentials file at
// path, spaces trimmed, refusing a file that is not regular, one that
// group or others may read or write (mode 0600 or stricter), one over
// MaxCredentialsBytes and an empty one. Its errors name the file and what
// is wrong, never the content; those of the file's mode, size and
// emptiness wrap ErrConfig. The file is checked as opened, not by name.
func ReadCredentialsFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("exchange: credentials file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("exchange: credentials file: %w", err)
	}
	if m := fi.Mode(); !m.IsRegular() || m.Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: credentials file %s has mode %v, want a regular file with mode 0600 or "+
			"stricter (chmod 600 %s)", ErrConfig, path, m, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxCredentialsBytes+1))
	if err != nil {
		return "", fmt.Errorf("exchange: credentials file: %w", err)
	}
	if len(b) > MaxCredentialsBytes {
		return "", fmt.Errorf("%w: credentials file %s is over %d bytes", ErrConfig, path, MaxCredentialsBytes)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%w: credentials file %s is empty", ErrConfig, path)
	}
	return s, nil
}

// LoadCredentials reads credentials from the file at path
// (ReadCredentialsFile): a JSON object with the fields of Credentials
// ({"token": "..."}), or a token alone on one line. It returns an error
// naming the file and what is wrong (never the secret), wrapping
// ErrConfig for a file open to others or that cannot be parsed.
func LoadCredentials(path string) (Credentials, error) {
	s, err := ReadCredentialsFile(path)
	if err != nil {
		return Credentials{}, err
	}
	c, err := ParseCredentials(s)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return c, nil
}

// CredentialsFromEnv reads credentials from the environment variable
// name, in the forms LoadCredentials reads. It returns an error wrapping
// ErrConfig if the variable is unset or empty.
func CredentialsFromEnv(name string) (Credentials, error) {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return Credentials{}, fmt.Errorf("%w: environment variable %s is not set", ErrConfig, name)
	}
	c, err := ParseCredentials(v)
	if err != nil {
		return Credentials{}, fmt.Errorf("environment variable %s: %w", name, err)
	}
	return c, nil
}

// ParseCredentials parses s: a JSON object with the fields of
// Credentials, or a token alone. Its errors wrap ErrConfig and do not
// quote s.
func ParseCredentials(s string) (Credentials, error) {
	s = strings.TrimSpace(s)
	var c Credentials
	if strings.HasPrefix(s, "{") {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			// The decoder's error may quote the input: say only where.
			return Credentials{}, fmt.Errorf("%w: credentials are not a JSON object of token, username, password, "+
				"subscription_key, function_key", ErrConfig)
		}
		return c, nil
	}
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return Credentials{}, fmt.Errorf("%w: credentials are neither a JSON object nor one token", ErrConfig)
	}
	return Credentials{Token: s}, nil
}

// check returns an error wrapping ErrConfig if c lacks what kind k needs.
func (c Credentials) check(k Kind) error {
	var missing string
	switch k {
	case ThreatExchange:
		if c.Token == "" {
			missing = "token (the access token)"
		}
	case TCAP:
		if c.Token == "" && (c.Username == "" || c.Password == "") {
			missing = "token, or username and password"
		}
	case StopNCII:
		if c.SubscriptionKey == "" || c.FunctionKey == "" {
			missing = "subscription_key and function_key"
		}
	case NCMEC:
		if c.Username == "" || c.Password == "" {
			missing = "username and password"
		}
	}
	if missing != "" {
		return fmt.Errorf("%w: %s credentials need %s", ErrConfig, k, missing)
	}
	return nil
}

// secrets returns the values to keep out of every text.
func (c Credentials) secrets() []string {
	var s []string
	for _, v := range []string{c.Token, c.Password, c.SubscriptionKey, c.FunctionKey} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

// String says which fields are set.
func (c Credentials) String() string {
	var set []string
	for _, f := range []struct {
		name, v string
	}{{"token", c.Token}, {"username", c.Username}, {"password", c.Password},
		{"subscription_key", c.SubscriptionKey}, {"function_key", c.FunctionKey}} {
		if f.v != "" {
			set = append(set, f.name)
		}
	}
	return "exchange.Credentials{set: " + strings.Join(set, ",") + "}"
}

// GoString is String, so that %#v leaks nothing either.
func (c Credentials) GoString() string { return c.String() }

// LogValue is String, for log/slog.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON writes String, so that Credentials put in a JSON status by
// mistake leak nothing; the files are read with ParseCredentials.
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }
