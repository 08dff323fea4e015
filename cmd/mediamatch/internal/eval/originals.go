package eval

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// imageExts are the file name extensions read as originals, videoExts
// those read as video originals.
var (
	imageExts = []string{".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
	videoExts = []string{".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}
)

// ReadOriginals returns the images under dir (recursively, by extension,
// in path order) whose path relative to dir does not match exclude (nil:
// none excluded). With groups, the path of a GROUPS.tsv file (columns
// group, relation, members, notes; members are globs relative to the
// file's folder, with {a,b} alternatives, separated by spaces; a word
// without '/' is in the folder of the word before it, and a word ending in
// ':' is a note), a positive group stands for one picture: only its first
// member (in the order written, globs sorted) is an original and the
// others are left out; members of every other relation (negative,
// hard-negative, distractor) and files in no group are originals each.
// It also returns a note per group choice made. It fails if dir or groups
// cannot be read.
func ReadOriginals(dir, groups string, exclude *regexp.Regexp) ([]Original, []string, error) {
	return readOriginals(dir, groups, exclude, imageExts)
}

// ReadVideos is ReadOriginals for the videos under dir (.mp4, .m4v, .mov,
// .mkv, .webm, .avi).
func ReadVideos(dir, groups string, exclude *regexp.Regexp) ([]Original, []string, error) {
	return readOriginals(dir, groups, exclude, videoExts)
}

func readOriginals(dir, groups string, exclude *regexp.Regexp, exts []string) ([]Original, []string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && slices.Contains(exts, strings.ToLower(filepath.Ext(p))) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("originals: %w", err)
	}
	skip := make(map[string]bool)       // left out
	distractor := make(map[string]bool) // never banked
	var notes []string
	if groups != "" {
		gs, err := readGroups(groups)
		if err != nil {
			return nil, nil, err
		}
		abs := func(p string) string { a, _ := filepath.Abs(p); return a }
		for _, g := range gs {
			if len(g.members) == 0 {
				continue
			}
			first, _ := filepath.Rel(dir, g.members[0])
			switch g.relation {
			case "positive":
				left := 0
				for _, m := range g.members[1:] {
					if a := abs(m); a != abs(g.members[0]) && !skip[a] {
						skip[a] = true
						left++
					}
				}
				notes = append(notes, fmt.Sprintf("group %s (positive): %s stands for it, %d other members left out", g.name, first, left))
			case "hard-negative":
				for _, m := range g.members[1:] {
					distractor[abs(m)] = true
				}
				notes = append(notes, fmt.Sprintf("group %s (hard-negative): %s may be banked, %d others are distractors", g.name, first, len(g.members)-1))
			default:
				for _, m := range g.members {
					distractor[abs(m)] = true
				}
				notes = append(notes, fmt.Sprintf("group %s (%s): its %d members are distractors", g.name, g.relation, len(g.members)))
			}
		}
	}
	var out []Original
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		a, _ := filepath.Abs(p)
		if skip[a] || exclude != nil && exclude.MatchString(filepath.ToSlash(rel)) {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("originals: %w", err)
		}
		out = append(out, Original{Name: filepath.ToSlash(rel), Data: data, Distractor: distractor[a]})
	}
	return out, notes, nil
}

type group struct {
	name, relation string
	members        []string // paths, in the order written
}

// readGroups reads a GROUPS.tsv file (see ReadOriginals).
func readGroups(path string) ([]group, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	defer f.Close()
	base := filepath.Dir(path)
	var gs []group
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Split(sc.Text(), "\t")
		if line == 1 || len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		g := group{name: fields[0], relation: fields[1]}
		prevDir := ""
		for _, w := range strings.Fields(fields[2]) {
			w = strings.TrimRight(w, ";,")
			if w == "" || strings.HasSuffix(w, ":") {
				continue
			}
			if !strings.Contains(w, "/") {
				w = prevDir + "/" + w
			}
			prevDir = filepath.ToSlash(filepath.Dir(w))
			for _, pat := range braces(w) {
				ms, err := filepath.Glob(filepath.Join(base, filepath.FromSlash(pat)))
				if err != nil {
					return nil, fmt.Errorf("groups: %s:%d: %q: %w", path, line, pat, err)
				}
				for _, m := range ms {
					if !slices.Contains(g.members, m) {
						g.members = append(g.members, m)
					}
				}
			}
		}
		gs = append(gs, g)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	return gs, nil
}

// braces expands the first {a,b,...} of s, recursively.
func braces(s string) []string {
	i := strings.Index(s, "{")
	j := strings.Index(s, "}")
	if i < 0 || j < i {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(s[i+1:j], ",") {
		out = append(out, braces(s[:i]+alt+s[j+1:])...)
	}
	return out
}
