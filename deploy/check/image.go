package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/mod/modfile"
)

const dockerfile = "deploy/docker/Dockerfile"

// checkDockerfile checks what the image's build needs from the rest of
// the repository: the Go release of go.mod, the go.mod file of every
// module the root module replaces with a directory (go mod download
// reads them before the sources are copied), the build script, and the
// files the final stage copies; and that the final stage runs as nonroot
// with a health check.
func (c *checker) checkDockerfile() error {
	df, err := os.ReadFile(c.path(dockerfile))
	if err != nil {
		return err
	}
	text := string(df)
	gomod, err := os.ReadFile(c.path("go.mod"))
	if err != nil {
		return err
	}
	mod, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		return err
	}
	var errs []error
	m := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindStringSubmatch(text)
	switch {
	case m == nil:
		errs = append(errs, fmt.Errorf("%s has no line ARG GO_VERSION=VERSION", dockerfile))
	case mod.Go == nil || m[1] != mod.Go.Version:
		errs = append(errs, fmt.Errorf("%s: GO_VERSION is %s; go.mod says go %s", dockerfile, m[1], mod.Go.Version))
	}
	for _, r := range mod.Replace {
		if !modfile.IsDirectoryPath(r.New.Path) {
			continue
		}
		dir := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(r.New.Path)), "./")
		want := fmt.Sprintf("COPY %s/go.mod %s/go.sum %s/", dir, dir, dir)
		if !strings.Contains(text, want) {
			errs = append(errs, fmt.Errorf("%s: go.mod replaces %s with ./%s, but the Dockerfile does not %q before go mod download", dockerfile, r.Old.Path, dir, want))
		}
	}
	for _, want := range []string{
		"deploy/docker/build-static /out",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		"EXPOSE 9464",
		"HEALTHCHECK ",
		`ENTRYPOINT ["/usr/local/bin/nebula-host"]`,
	} {
		if !strings.Contains(text, want) {
			errs = append(errs, fmt.Errorf("%s: no %q", dockerfile, want))
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^COPY (deploy/\S+) `).FindAllStringSubmatch(text, -1) {
		if _, err := os.Stat(c.path(m[1])); err != nil {
			errs = append(errs, fmt.Errorf("%s copies %s: %w", dockerfile, m[1], err))
		}
	}
	return errors.Join(errs...)
}

// buildImageBinaries copies the build context that .dockerignore lets
// through into bin/deploy-check/context (always the same directory, so
// that the Go build cache serves the next run) and runs the build stage's
// command there, writing the executables to out.
func (c *checker) buildImageBinaries(ctx context.Context, out string) error {
	ctxDir := c.path("bin/deploy-check/context")
	if err := os.RemoveAll(ctxDir); err != nil {
		return err
	}
	n, err := copyBuildContext(c.root, ctxDir)
	if err != nil {
		return fmt.Errorf("copying the build context: %w", err)
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "deploy/docker/build-static", out)
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), "VERSION=deploy-check")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("deploy/docker/build-static in the build context (%d files): %w\n%s", n, err, buf.Bytes())
	}
	fmt.Printf("     the build context holds %d files\n", n)
	return nil
}

// copyBuildContext copies the files under root that .dockerignore does
// not exclude to dst, as docker build sends them, and returns how many.
func copyBuildContext(root, dst string) (int, error) {
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		return 0, err
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf(".dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return 0, fmt.Errorf(".dockerignore: %w", err)
	}
	n := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if d.IsDir() {
			// An excluded directory is skipped unless an exception
			// pattern may take back something under it.
			if excluded && !reincluded(pm, rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if excluded || !d.Type().IsRegular() {
			return nil
		}
		n++
		return copyFile(path, filepath.Join(dst, rel))
	})
	return n, err
}

// reincluded reports whether an exception (!) pattern of pm names dir or
// something under it.
func reincluded(pm *patternmatcher.PatternMatcher, dir string) bool {
	for _, p := range pm.Patterns() {
		if p.Exclusion() && (p.String() == dir || strings.HasPrefix(p.String(), dir+"/")) {
			return true
		}
	}
	return false
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// checkStatic checks that dir holds nebula-host and, in plugins/, an
// executable for every plugin of the repository, and that each is a
// static ELF executable: what runs on distroless/static.
func (c *checker) checkStatic(dir string) error {
	cmds, err := filepath.Glob(c.path("plugins/*/cmd/nebula-plugin-*"))
	if err != nil {
		return err
	}
	want := []string{filepath.Join(dir, "nebula-host")}
	for _, cmd := range cmds {
		want = append(want, filepath.Join(dir, "plugins", filepath.Base(cmd)))
	}
	got, err := filepath.Glob(filepath.Join(dir, "plugins", "*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range got {
		if !slices.Contains(want, g) {
			errs = append(errs, fmt.Errorf("%s is no plugin of plugins/*/cmd", g))
		}
	}
	for _, path := range want {
		errs = append(errs, staticExecutable(path))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("     %d static executables: nebula-host and %d plugins\n", len(want), len(want)-1)
	return nil
}

// staticExecutable returns an error unless path is an ELF executable that
// needs no dynamic loader and no shared library.
func staticExecutable(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s: ELF type %s, not an executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: it names an ELF interpreter (built with cgo?)", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", path, libs)
	}
	return nil
}
