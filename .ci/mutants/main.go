// Command mutants checks that the test suite catches the mutations of
// issue 18: each is a one-place break of a promise the README makes
// (hits of a parallel scan dropped, writes not synced, a reader taking the
// writers' lock, an upload written to a temporary file, ...).
//
// Usage, from anywhere in the repository (make mutants runs it):
//
//	go run ./.ci/mutants [-full] [-only regexp] [-keep]
//
// It copies the working tree (tracked and untracked, not ignored files) to
// a scratch directory beside a link to ../shared, runs each mutation's
// tests there once unmutated (they must pass: a test that fails or skips
// there proves nothing), then for each mutation in turn: replaces the exact
// old snippet with the new one (it fails loudly if the snippet is not found
// exactly once: the code moved, update the table), runs the tests, and puts
// the file back. A mutation is caught if its tests fail. It prints a
// caught/missed table and exits non-zero if any mutation was missed.
//
// Tests run with CI=1, so a missing ffmpeg or ../shared fails the baseline
// instead of passing as a skip. Each mutation runs its whole package's
// tests, except where the table names tests (-run) because the package's
// suite takes minutes; -full ignores those names.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
)

// An edit replaces old, which must occur exactly once in file, with new.
type edit struct{ file, old, new string }

// A mutation breaks one promise; pkg's tests (run, if set, selects them)
// must catch it. pre, if set, runs after the edits and before the tests,
// as a developer would (e.g. regenerating golden files).
type mutation struct {
	name  string
	pkg   string
	run   string
	pre   []string
	edits []edit
}

var mutations = []mutation{{
	name: "parallel scan drops the hits of all chunks but the first",
	pkg:  "./index/hamming/",
	edits: []edit{{"index/hamming/scan.go",
		"\tfor p := 1; p < parts; p++ {\n\t\tbufs[0] = append(bufs[0], bufs[p]...)\n\t}",
		"\tfor p := 1; p < 1; p++ {\n\t\tbufs[0] = append(bufs[0], bufs[p]...)\n\t}"}},
}, {
	name: "inline table scan reports only the first chunk's hits",
	pkg:  "./index/hamming/",
	edits: []edit{{"index/hamming/inline.go",
		"\tfor p := range parts {\n\t\tfor _, k := range sc.bufs[p] {",
		"\tfor p := range 1 {\n\t\tfor _, k := range sc.bufs[p] {"}},
}, {
	name: "Badger opened without synced writes",
	pkg:  "./index/",
	edits: []edit{{"index/store.go",
		"WithSyncWrites(true).",
		"WithSyncWrites(false)."}},
}, {
	name: "Match takes the writers' lock",
	pkg:  "./index/",
	edits: []edit{{"index/match.go",
		"\tdefer ix.exit()\n\n\tst := ix.mem.state()",
		"\tdefer ix.exit()\n\tix.wmu.Lock()\n\tdefer ix.wmu.Unlock()\n\n\tst := ix.mem.state()"}},
}, {
	name: "an import's memory changes land after Import returns",
	pkg:  "./index/",
	edits: []edit{{"index/import.go",
		"\t\tfor _, f := range mem {\n\t\t\tf()\n\t\t}",
		"\t\tgo func() {\n\t\t\tfor _, f := range mem {\n\t\t\t\tf()\n\t\t\t}\n\t\t}()"}},
}, {
	name: "upload written to a temporary file and deleted again",
	pkg:  "./server/",
	run:  "TestUploadsLeaveNoTrace",
	edits: []edit{
		{"server/upload.go", "\t\"io\"\n", "\t\"io\"\n\t\"os\"\n"},
		{"server/upload.go",
			"\tm, err := s.hash.HashWith(ctx, data, o)\n",
			"\tif f, err := os.CreateTemp(\"\", \"upload-*\"); err == nil {\n\t\tf.Write(data)\n\t\tf.Close()\n\t\tos.Remove(f.Name())\n\t}\n\tm, err := s.hash.HashWith(ctx, data, o)\n"},
	},
}, {
	name: "a cancelled import's staging is not dropped",
	pkg:  "./server/",
	run:  "TestImportCancel",
	edits: []edit{{"index/hashlist/transfer.go",
		"\t\tif err := im.Abort(); err != nil && o.Logger != nil {",
		"\t\tif err := error(nil); err != nil && o.Logger != nil {"}},
}, {
	name: "restart drops a committed, half-applied import",
	pkg:  "./cmd/mediamatch/",
	run:  "TestEndToEndImportCrash",
	edits: []edit{{"index/import.go",
		"\t\tif mk.next == appliedSeq || ix.mem.state().bankByRef[mk.bank] == nil { // applied, or bank deleted: clean up",
		"\t\tif true || mk.next == appliedSeq || ix.mem.state().bankByRef[mk.bank] == nil { // applied, or bank deleted: clean up"}},
}, {
	name: "lines writer separates type and hash by a tab (golden files regenerated)",
	pkg:  "./index/hashlist/",
	pre:  []string{"go", "test", "-count=1", "-run", "^TestGolden$", "./index/hashlist/", "-update"},
	edits: []edit{{"index/hashlist/writer.go",
		`pyName(s, video) + " " + s.Hex()`,
		`pyName(s, video) + "\t" + s.Hex()`}},
}, {
	name: "a missing dependency skips under CI",
	pkg:  "./api/mediamatch/mmtest/",
	edits: []edit{{"api/mediamatch/mmtest/mmtest.go",
		"\tif CI() {\n\t\tt.Fatalf(",
		"\tif false {\n\t\tt.Fatalf("}},
}}

func main() {
	full := flag.Bool("full", false, "run every mutation's whole package, ignoring the tests the table names")
	only := flag.String("only", "", "run only the mutations whose name matches this regexp")
	keep := flag.Bool("keep", false, "keep the scratch copy")
	flag.Parse()
	if err := run(*full, *only, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(2)
	}
}

func run(full bool, only string, keep bool) error {
	re, err := regexp.Compile(only)
	if err != nil {
		return err
	}
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return fmt.Errorf("not in a git work tree: %v", err)
	}
	root := strings.TrimSpace(string(out))
	scratch, err := os.MkdirTemp("", "mutants-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("scratch copy:", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	tree := filepath.Join(scratch, filepath.Base(root))
	if err := copyTree(root, tree); err != nil {
		return err
	}
	if shared := filepath.Join(root, "..", "shared"); exists(shared) {
		abs, _ := filepath.Abs(shared)
		if err := os.Symlink(abs, filepath.Join(scratch, "shared")); err != nil {
			return err
		}
	}

	var ms []mutation
	for _, m := range mutations {
		if re.MatchString(m.name) {
			if full {
				m.run = ""
			}
			ms = append(ms, m)
		}
	}
	// Every snippet must match before anything runs.
	for _, m := range ms {
		for _, e := range m.edits {
			b, err := os.ReadFile(filepath.Join(tree, e.file))
			if err != nil {
				return fmt.Errorf("%s: %v", m.name, err)
			}
			if n := bytes.Count(b, []byte(e.old)); n != 1 {
				return fmt.Errorf("%s: %s holds the old snippet %d times, want once: the code moved; update .ci/mutants\n%s",
					m.name, e.file, n, e.old)
			}
		}
	}
	// Baselines: the tests pass unmutated.
	done := map[string]bool{}
	for _, m := range ms {
		key := m.pkg + " " + m.run
		if done[key] {
			continue
		}
		done[key] = true
		fmt.Printf("baseline: %s\n", key)
		if ok, log := goTest(tree, m); !ok {
			return fmt.Errorf("the tests fail without a mutation (%s):\n%s", key, log)
		}
	}

	type row struct {
		m      mutation
		caught bool
		took   time.Duration
	}
	var rows []row
	for _, m := range ms {
		fmt.Printf("mutant: %s\n", m.name)
		saved := map[string][]byte{}
		for _, e := range m.edits {
			p := filepath.Join(tree, e.file)
			b, _ := os.ReadFile(p)
			if _, ok := saved[e.file]; !ok {
				saved[e.file] = b
			}
			if err := os.WriteFile(p, bytes.Replace(b, []byte(e.old), []byte(e.new), 1), 0o644); err != nil {
				return err
			}
		}
		start := time.Now()
		ok := true
		if m.pre != nil {
			cmd := exec.Command(m.pre[0], m.pre[1:]...)
			cmd.Dir = tree
			cmd.Env = append(os.Environ(), "CI=1")
			if b, err := cmd.CombinedOutput(); err != nil {
				fmt.Printf("  %s: %v (counts as caught)\n%s", strings.Join(m.pre, " "), err, b)
				ok = false
			}
		}
		if ok {
			ok, _ = goTest(tree, m)
		}
		rows = append(rows, row{m, !ok, time.Since(start)})
		// Put back the files, and what pre may have rewritten.
		for f, b := range saved {
			if err := os.WriteFile(filepath.Join(tree, f), b, 0o644); err != nil {
				return err
			}
		}
		if m.pre != nil {
			if err := copyTree(root, tree); err != nil {
				return err
			}
		}
	}

	missed := 0
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nRESULT\tMUTATION\tFILE\tTESTS\tTIME")
	for _, r := range rows {
		res := "caught"
		if !r.caught {
			res = "MISSED"
			missed++
		}
		tests := r.m.pkg
		if r.m.run != "" {
			tests += " -run " + r.m.run
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\n", res, r.m.name, r.m.edits[len(r.m.edits)-1].file, tests, r.took.Round(time.Second))
	}
	w.Flush()
	fmt.Printf("%d of %d mutations caught\n", len(rows)-missed, len(rows))
	if missed > 0 {
		return errors.New("some mutations were missed")
	}
	return nil
}

// goTest runs m's tests in tree with CI=1 and reports whether they passed,
// with the tail of their output.
func goTest(tree string, m mutation) (bool, string) {
	args := []string{"test", "-count=1", "-timeout", "20m"}
	if m.run != "" {
		args = append(args, "-run", m.run)
	}
	cmd := exec.Command("go", append(args, m.pkg)...)
	cmd.Dir = tree
	cmd.Env = append(os.Environ(), "CI=1")
	b, err := cmd.CombinedOutput()
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return err == nil, string(b)
}

// copyTree copies the files git knows of in src (tracked, and untracked
// but not ignored), as they are in the working tree, to dst.
func copyTree(src, dst string) error {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = src
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		from := filepath.Join(src, name)
		fi, err := os.Lstat(from)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		to := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := copyFile(from, to, fi.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string, perm os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
