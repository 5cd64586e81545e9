package credential

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// readEnv reads an env credential: each attribute from its variable.
func readEnv(vars map[string]string, lookup func(string) (string, bool)) (fetched, error) {
	attrs := make(map[string]string, len(vars))
	var missing []string
	for attr, name := range vars {
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
			continue
		}
		attrs[attr] = v
	}
	switch len(missing) {
	case 0:
		return fetched{attrs: attrs}, nil
	case 1:
		return fetched{}, fmt.Errorf("environment variable %s is not set", missing[0])
	default:
		slices.Sort(missing)
		return fetched{}, fmt.Errorf("environment variables %s are not set", strings.Join(missing, ", "))
	}
}

// readFile reads a file credential. info is the file as it was read, or as
// os.Stat sees it when it could not be read (nil when that fails too): the
// watcher reads the file again when what os.Stat sees differs from it.
func readFile(path, format string) (f fetched, info os.FileInfo, err error) {
	fh, err := os.Open(path)
	if err != nil {
		info, _ = os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return fetched{}, info, fmt.Errorf("file %s does not exist", path)
		}
		return fetched{}, info, fmt.Errorf("cannot open file %s: %v", path, pathCause(err))
	}
	defer fh.Close()
	info, err = fh.Stat()
	if err != nil {
		return fetched{}, nil, fmt.Errorf("cannot stat file %s: %v", path, pathCause(err))
	}
	if info.IsDir() {
		return fetched{}, info, fmt.Errorf("%s is a directory; path must name a file", path)
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxContent+1))
	if err != nil {
		return fetched{}, info, fmt.Errorf("cannot read file %s: %v", path, pathCause(err))
	}
	if len(data) > maxContent {
		return fetched{}, info, fmt.Errorf("file %s is larger than 1 MiB", path)
	}
	if format == FormatText {
		f, err = parseText(data)
	} else {
		f, _, err = parseJSON(data)
	}
	if err != nil {
		return fetched{}, info, fmt.Errorf("file %s %w", path, err)
	}
	return f, info, nil
}

// pathCause returns the cause of a *fs.PathError, whose message repeats
// the path the caller names already.
func pathCause(err error) error {
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sameFile reports whether a and b, results of os.Stat, are the same file
// unchanged: the same inode (a rename over it or a symlink swap makes
// another), size, modification time and mode. nil is a file that could
// not be stat'ed.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && a.Mode() == b.Mode()
}
