package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// printed parses the output of `config print`: each key's value (as TOML
// text) and source.
func printed(t *testing.T, out string) map[string][2]string {
	t.Helper()
	re := regexp.MustCompile(`^([a-z0-9-]+) = (.*)  # (.*)$`)
	got := map[string][2]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("config print line %q is not 'key = value  # source'", l)
		}
		got[m[1]] = [2]string{m[2], m[3]}
	}
	return got
}

// serveKeys returns the configuration keys: serve's own flags but
// --config, --help and deprecated ones.
func serveKeys() []string {
	a := &app{getenv: func(string) string { return "" }}
	_, own := a.serveCommandWith()
	s := newSettings(own)
	var keys []string
	for _, k := range s.keys {
		if own.Lookup(k).Deprecated == "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// layerValues returns three distinct valid values of key, for the file,
// the environment and the flag, as the command line and environment
// write them.
func layerValues(t *testing.T, key string) [3]string {
	a := &app{getenv: func(string) string { return "" }}
	_, own := a.serveCommandWith()
	f := own.Lookup(key)
	switch key {
	case "log-level":
		return [3]string{"debug", "warn", "error"}
	case "log-format":
		return [3]string{"json", "text", "json"}
	case "matcher-threshold":
		return [3]string{"pdq=20", "pdq=21", "pdq=22"}
	case "client-role":
		return [3]string{"a=matcher", "b=curator", "c=admin"}
	}
	switch f.Value.Type() {
	case "int", "int64", "uint32":
		return [3]string{"11", "12", "13"}
	case "float64":
		return [3]string{"1.5", "2.5", "3.5"}
	case "bool":
		return [3]string{"true", "false", "true"}
	case "duration":
		return [3]string{"11s", "12s", "13s"}
	case "string":
		return [3]string{"file-" + key, "env-" + key, "flag-" + key}
	}
	t.Fatalf("key %s: no test values for type %s", key, f.Value.Type())
	return [3]string{}
}

// fileLine writes key = v in TOML for a key of the given type.
func fileLine(key, typ, v string) string {
	switch typ {
	case "int", "int64", "uint32", "float64", "bool":
		return fmt.Sprintf("%s = %s\n", key, v)
	case "stringArray":
		return fmt.Sprintf("%s = [%q]\n", key, v)
	}
	return fmt.Sprintf("%s = %q\n", key, v)
}

// TestConfigPrecedence sets every key from the file, the environment and
// the command line in turn: the flag wins over the variable, which wins
// over the file, which wins over the default; `config print` says which.
func TestConfigPrecedence(t *testing.T) {
	a := &app{getenv: func(string) string { return "" }}
	_, own := a.serveCommandWith()
	keys := serveKeys()
	if len(keys) < 40 {
		t.Fatalf("%d keys, want every serve flag", len(keys))
	}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			typ := own.Lookup(key).Value.Type()
			v := layerValues(t, key)
			file := filepath.Join(t.TempDir(), "mediamatch.toml")
			if err := os.WriteFile(file, []byte(fileLine(key, typ, v[0])), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{envName(key): v[1]}
			flag := "--" + key + "=" + v[2]
			for _, c := range []struct {
				name   string
				env    map[string]string
				args   []string
				value  string
				source string
			}{
				{"default", nil, nil, "", "default"},
				{"file", nil, []string{"--config", file}, v[0], "file " + file},
				{"env over file", env, []string{"--config", file}, v[1], "env " + envName(key)},
				{"flag over env and file", env, []string{"--config", file, flag}, v[2], "flag"},
				{"file from MEDIAMATCH_CONFIG", map[string]string{EnvConfig: file}, nil, v[0], "file " + file},
			} {
				out := runEnv(t, "", c.env, append([]string{"config", "print"}, c.args...)...)
				if out.code != 0 {
					t.Fatalf("%s: config print: exit %d: %s", c.name, out.code, out.stderr)
				}
				got := printed(t, out.stdout)[key]
				if got[1] != c.source {
					t.Errorf("%s: %s from %q, want from %q", c.name, key, got[1], c.source)
				}
				if c.value != "" && !strings.Contains(got[0], strings.Trim(c.value, `"`)) && key != "metrics-token" {
					t.Errorf("%s: %s = %s, want %s", c.name, key, got[0], c.value)
				}
			}
		})
	}
}

// TestConfigBadValues checks that a bad value is refused naming where it
// came from (flag, variable or file key), the value and what is allowed.
func TestConfigBadValues(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"file int", nil, []string{"--config", write("a.toml", "max-calls = \"lots\"\n")}, []string{"a.toml", "max-calls", `"lots"`, "want an integer"}},
		{"file type", nil, []string{"--config", write("b.toml", "max-calls = true\n")}, []string{"b.toml", "max-calls", "want an integer"}},
		{"file enum", nil, []string{"--config", write("c.toml", "log-level = \"loud\"\n")}, []string{"c.toml", "log-level", `"loud"`, "debug, info, warn or error"}},
		{"file unknown key", nil, []string{"--config", write("d.toml", "max-cals = 3\n")}, []string{"d.toml", `unknown key "max-cals"`, "max-calls"}},
		{"file list for scalar", nil, []string{"--config", write("e.toml", "listen = [\"a\"]\n")}, []string{"e.toml", "listen", "a list, want a string"}},
		{"file duration", nil, []string{"--config", write("f.toml", "drain-grace = 5\n")}, []string{"f.toml", "drain-grace", "want a duration"}},
		{"file syntax", nil, []string{"--config", write("g.toml", "listen = \n")}, []string{"g.toml"}},
		{"file missing", nil, []string{"--config", filepath.Join(dir, "absent.toml")}, []string{"absent.toml"}},
		{"env enum", map[string]string{"MEDIAMATCH_LOG_FORMAT": "xml"}, nil, []string{"MEDIAMATCH_LOG_FORMAT", `"xml"`, "text or json"}},
		{"env duration", map[string]string{"MEDIAMATCH_DRAIN_GRACE": "5"}, nil, []string{"MEDIAMATCH_DRAIN_GRACE", `"5"`, "want a duration"}},
		{"env bool", map[string]string{"MEDIAMATCH_DEV": "maybe"}, nil, []string{"MEDIAMATCH_DEV", "true or false"}},
		{"flag enum", nil, []string{"--log-format", "yaml"}, []string{"--log-format", `"yaml"`, "text or json"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := runEnv(t, "", c.env, append([]string{"config", "print"}, c.args...)...)
			if out.code != 2 {
				t.Fatalf("exit %d (stdout %q), want 2 (usage)", out.code, out.stdout)
			}
			for _, w := range c.want {
				if !strings.Contains(out.stderr, w) {
					t.Errorf("message %q lacks %q", out.stderr, w)
				}
			}
			// serve refuses the same before it opens anything.
			data := filepath.Join(t.TempDir(), "data")
			if out := runEnv(t, "", c.env, append([]string{"serve", "--dev", "--data", data, "--listen", "127.0.0.1:0"}, c.args...)...); out.code != 2 {
				t.Errorf("serve: exit %d, want 2: %s", out.code, out.stderr)
			}
			if _, err := os.Stat(data); err == nil {
				t.Errorf("serve created the data dir before refusing the configuration")
			}
		})
	}
}

// TestConfigPrintRedactsAndRoundTrips: secrets are never printed, and the
// printed file, read back with --config, gives the same configuration.
func TestConfigPrintRedactsAndRoundTrips(t *testing.T) {
	env := map[string]string{"MEDIAMATCH_METRICS_TOKEN": "tok-s3cret-canary", "MEDIAMATCH_MAX_CALLS": "99"}
	out := runEnv(t, "", env, "config", "print", "--listen", "127.0.0.1:7979", "--matcher-threshold", "pdq=20", "--log-format", "json")
	if out.code != 0 {
		t.Fatalf("config print: exit %d: %s", out.code, out.stderr)
	}
	if strings.Contains(out.stdout+out.stderr, "tok-s3cret-canary") {
		t.Fatalf("config print shows the metrics token:\n%s", out.stdout)
	}
	first := printed(t, out.stdout)
	if got := first["metrics-token"]; got[0] != `"<redacted>"` || got[1] != "env MEDIAMATCH_METRICS_TOKEN" {
		t.Errorf("metrics-token = %v, want redacted from the environment", got)
	}
	// Read back, without the secret line (which would set the token to
	// the placeholder).
	var body []string
	for _, l := range strings.Split(out.stdout, "\n") {
		if !strings.HasPrefix(l, "metrics-token") {
			body = append(body, l)
		}
	}
	file := filepath.Join(t.TempDir(), "printed.toml")
	if err := os.WriteFile(file, []byte(strings.Join(body, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	out2 := runEnv(t, "", nil, "config", "print", "--config", file)
	if out2.code != 0 {
		t.Fatalf("config print --config printed.toml: exit %d: %s", out2.code, out2.stderr)
	}
	for k, v := range printed(t, out2.stdout) {
		if k != "metrics-token" && v[0] != first[k][0] {
			t.Errorf("read back: %s = %s, want %s", k, v[0], first[k][0])
		}
	}
}

// TestExampleConfig checks the documented example file: it parses, sets
// every key (every serve flag), and serve's configuration accepts it.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "deploy", "mediamatch.example.toml")
	var file map[string]any
	if _, err := toml.DecodeFile(path, &file); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	keys := serveKeys()
	for _, k := range keys {
		if _, ok := file[k]; !ok {
			t.Errorf("%s lacks the key %s (env %s)", path, k, envName(k))
		}
	}
	for k := range file {
		if !slices.Contains(keys, k) {
			t.Errorf("%s has the key %s, which serve does not take", path, k)
		}
	}
	raw, _ := os.ReadFile(path)
	for _, k := range keys { // each documented: a comment line just above it
		if !regexp.MustCompile(`(?m)^#.*\n` + regexp.QuoteMeta(k) + ` = `).Match(raw) {
			t.Errorf("%s: key %s has no comment above it", path, k)
		}
	}
	out := runEnv(t, "", nil, "config", "print", "--config", path)
	if out.code != 0 {
		t.Fatalf("config print --config %s: exit %d: %s", path, out.code, out.stderr)
	}
}
