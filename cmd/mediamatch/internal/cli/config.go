package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The configuration of `mediamatch serve`: every setting is a serve flag,
// the same key in a TOML file (--config, or $MEDIAMATCH_CONFIG), and an
// environment variable MEDIAMATCH_<KEY> (upper case, '-' as '_'). A flag
// given on the command line wins over the environment, which wins over
// the file, which wins over the default.

// EnvConfig is the environment variable naming the configuration file
// when --config is not given.
const EnvConfig = "MEDIAMATCH_CONFIG"

// envPrefix starts the environment variable of every serve setting.
const envPrefix = "MEDIAMATCH_"

// secretKeys are the settings whose values are never printed.
var secretKeys = []string{"metrics-token"}

// enumKeys are the settings with a fixed set of values.
var enumKeys = map[string][]string{
	"log-level":  {"debug", "info", "warn", "error"},
	"log-format": {"text", "json"},
}

// redacted stands for a secret's value in `config print`.
const redacted = "<redacted>"

// settings are serve's flags seen as configuration keys, and where each
// value came from once resolved.
type settings struct {
	fs     *pflag.FlagSet
	keys   []string          // sorted; the serve flags but --config
	source map[string]string // key: "default", "flag", "env NAME", "file PATH"
}

// newSettings returns the settings of fs's flags (but "config" and
// "help"), each from its default.
func newSettings(fs *pflag.FlagSet) *settings {
	s := &settings{fs: fs, source: map[string]string{}}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" || f.Name == "help" {
			return
		}
		s.keys = append(s.keys, f.Name)
		s.source[f.Name] = "default"
	})
	slices.Sort(s.keys)
	return s
}

// envName returns the environment variable of a key.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// resolve gives every key not set on the command line its value from the
// environment, else from the file at path (if path is not empty), else
// leaves its default; then checks the enumerated keys. Errors name the
// key (as flag, variable or file key), the value, and what is allowed.
func (s *settings) resolve(path string, getenv func(string) string) error {
	var file map[string]any
	if path != "" {
		if _, err := toml.DecodeFile(path, &file); err != nil {
			return usageError{fmt.Errorf("config %s: %w", path, err)}
		}
		for k := range file {
			if !slices.Contains(s.keys, k) {
				return usageError{fmt.Errorf("config %s: unknown key %q: the keys are serve's flags (mediamatch serve --help, "+
					"mediamatch config print): %s", path, k, strings.Join(s.keys, ", "))}
			}
		}
	}
	// Every value given is checked, also those a higher layer overrides;
	// then the winning one is set.
	for _, key := range s.keys {
		f := s.fs.Lookup(key)
		var fileVals, envVals []string
		if v, ok := file[key]; ok {
			vals, err := fileValues(v, f)
			if err != nil {
				return usageError{fmt.Errorf("config %s: %s: %v", path, key, err)}
			}
			for _, x := range vals {
				if err := check(f, x); err != nil {
					return usageError{fmt.Errorf("config %s: %s = %q: want %s", path, key, shown(key, x), want(f))}
				}
			}
			fileVals = vals
		}
		name := envName(key)
		if v := getenv(name); v != "" {
			envVals = []string{v}
			if f.Value.Type() == "stringArray" {
				envVals = strings.Split(v, ",")
			}
			for i, x := range envVals {
				envVals[i] = strings.TrimSpace(x)
				if err := check(f, envVals[i]); err != nil {
					return usageError{fmt.Errorf("config: %s=%q: want %s", name, shown(key, v), want(f))}
				}
			}
		}
		var set []string
		switch {
		case f.Changed:
			s.source[key] = "flag"
		case envVals != nil:
			set, s.source[key] = envVals, "env "+name
		case fileVals != nil:
			set, s.source[key] = fileVals, "file "+path
		}
		for _, x := range set {
			if err := f.Value.Set(x); err != nil {
				return usageError{fmt.Errorf("config: %s %q: want %s", s.name(key), shown(key, x), want(f))}
			}
		}
	}
	for key, allowed := range enumKeys {
		f := s.fs.Lookup(key)
		if f != nil && !slices.Contains(allowed, f.Value.String()) {
			return usageError{fmt.Errorf("config: %s %q (from %s): want %s", s.name(key), f.Value.String(), s.source[key], orList(allowed))}
		}
	}
	return nil
}

// check returns an error unless v is a valid value of f.
func check(f *pflag.Flag, v string) error {
	if allowed, ok := enumKeys[f.Name]; ok && !slices.Contains(allowed, v) {
		return errors.New("not allowed")
	}
	var err error
	switch f.Value.Type() {
	case "int", "int64":
		_, err = strconv.ParseInt(v, 0, 64)
	case "uint32":
		_, err = strconv.ParseUint(v, 0, 32)
	case "float64":
		_, err = strconv.ParseFloat(v, 64)
	case "bool":
		_, err = strconv.ParseBool(v)
	case "duration":
		_, err = time.ParseDuration(v)
	}
	return err
}

// name returns how the user gave key: "--key", the variable or the file key.
func (s *settings) name(key string) string {
	src := s.source[key]
	switch {
	case strings.HasPrefix(src, "env "):
		return strings.TrimPrefix(src, "env ")
	case strings.HasPrefix(src, "file "):
		return key + " in " + strings.TrimPrefix(src, "file ")
	}
	return "--" + key
}

// shown is v, or redacted for a secret key.
func shown(key, v string) string {
	if slices.Contains(secretKeys, key) {
		return redacted
	}
	return v
}

// fileValues converts a TOML value to the strings f's Value.Set takes: one
// for a scalar, one per element for a list (only list flags take lists).
func fileValues(v any, f *pflag.Flag) ([]string, error) {
	list := f.Value.Type() == "stringArray" || f.Value.Type() == "stringSlice"
	switch x := v.(type) {
	case []any:
		if !list {
			return nil, fmt.Errorf("a list, want %s", want(f))
		}
		var out []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("list element %v, want strings such as %q", e, "pdq=31")
			}
			out = append(out, s)
		}
		return out, nil
	case map[string]any:
		return nil, fmt.Errorf("a table, want %s", want(f))
	case string:
		return []string{x}, nil
	case int64:
		return []string{strconv.FormatInt(x, 10)}, nil
	case float64:
		return []string{strconv.FormatFloat(x, 'g', -1, 64)}, nil
	case bool:
		return []string{strconv.FormatBool(x)}, nil
	}
	return nil, fmt.Errorf("%v (%T), want %s", v, v, want(f))
}

// want says what values a flag takes.
func want(f *pflag.Flag) string {
	if allowed, ok := enumKeys[f.Name]; ok {
		return orList(allowed)
	}
	switch f.Value.Type() {
	case "int", "int64", "uint32":
		return "an integer"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "duration":
		return `a duration such as "10s", "1m30s" or "2h"`
	case "stringArray", "stringSlice":
		return "a list of strings"
	}
	return "a string"
}

func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// print writes the effective configuration as a TOML file (which --config
// reads back), each key with its source, secrets redacted.
func (s *settings) print(w io.Writer) error {
	fmt.Fprintf(w, "# mediamatch serve: the effective configuration (flag > environment > file > default).\n")
	for _, key := range s.keys {
		f := s.fs.Lookup(key)
		if f.Hidden || f.Deprecated != "" {
			continue
		}
		var val string
		switch {
		case slices.Contains(secretKeys, key) && f.Value.String() != "":
			val = tomlString(redacted)
		default:
			val = tomlValue(s.fs, f)
		}
		if _, err := fmt.Fprintf(w, "%s = %s  # %s\n", key, val, s.source[key]); err != nil {
			return err
		}
	}
	return nil
}

// tomlValue is f's value as a TOML literal.
func tomlValue(fs *pflag.FlagSet, f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "int64", "uint32", "bool":
		return f.Value.String()
	case "float64":
		v, _ := fs.GetFloat64(f.Name)
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return tomlString(f.Value.String())
		}
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case "stringArray":
		vals, _ := fs.GetStringArray(f.Name)
		q := make([]string, len(vals))
		for i, v := range vals {
			q[i] = tomlString(v)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return tomlString(f.Value.String())
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// configPath returns the configuration file of a serve command: --config,
// else $MEDIAMATCH_CONFIG, else none.
func (a *app) configPath(fs *pflag.FlagSet) string {
	if p, _ := fs.GetString("config"); p != "" {
		return p
	}
	return a.getenv(EnvConfig)
}

// configCommand is `mediamatch config print`.
func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show serve's configuration",
		Long: `config shows the configuration 'mediamatch serve' runs with: every serve flag is
also a key of the TOML file of --config (or $MEDIAMATCH_CONFIG) and an
environment variable MEDIAMATCH_<KEY> (upper case, '-' as '_'); a flag wins
over the variable, which wins over the file, which wins over the default.`,
		Example: `  mediamatch config print --config deploy/mediamatch.example.toml`,
		Args:    cobra.NoArgs,
	}
	serve, own := a.serveCommandWith()
	print := &cobra.Command{
		Use:   "print [serve flags]",
		Short: "Print the configuration serve would run with, secrets redacted",
		Long: `print resolves serve's configuration as serve does (a flag given here wins over
its environment variable MEDIAMATCH_<KEY>, which wins over the file of --config
or $MEDIAMATCH_CONFIG, which wins over the default), checks it, and prints it as
a TOML file that --config reads back, each key with where its value came from.
Secrets (metrics-token) are printed as "<redacted>".`,
		Example: `  mediamatch config print --config /etc/mediamatch/mediamatch.toml
  MEDIAMATCH_LOG_FORMAT=json mediamatch config print --listen 127.0.0.1:7979`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s := newSettings(own)
			if err := s.resolve(a.configPath(cmd.Flags()), a.getenv); err != nil {
				return err
			}
			return s.print(a.stdout)
		},
	}
	print.Flags().AddFlagSet(serve.Flags())
	cmd.AddCommand(print)
	return cmd
}
