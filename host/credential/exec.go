package credential

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// waitDelay is how long a run waits, once its command exited or was
	// killed, for processes it left behind to close its output.
	waitDelay = 500 * time.Millisecond
	// maxStderr is how much of the end of a command's standard error is
	// kept, to quote its last line.
	maxStderr = 64 << 10
	// maxStderrLine bounds the line of standard error an error quotes.
	maxStderrLine = 200
	// masked replaces a value in the standard error an error quotes.
	masked = "(secret)"
)

// runExec runs an exec credential's command once and reads its output.
// ctx is the store's: Close kills the command, and the error gives ctx's
// cause. known returns the values that the command's standard error must
// not show.
func runExec(ctx context.Context, path string, sp Spec, known func() []string) (fetched, error) {
	runCtx, cancel := context.WithTimeout(ctx, sp.Timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, path, sp.Command[1:]...)
	cmd.Dir = sp.Dir
	var stdout capped
	stderr := tail{max: maxStderr}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = waitDelay
	prepareCmd(cmd)

	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command exited with status 0; a process it left behind
		// held its output open. What it printed is read as usual.
		err = nil
	}
	status := "exit status unknown"
	if cmd.ProcessState != nil {
		status = cmd.ProcessState.String()
	}
	// describe names the command, its exit status and the last line of
	// its standard error, with the values known and those of the output
	// (seen) masked.
	var seen []string
	describe := func(format string, args ...any) error {
		msg := fmt.Sprintf("command %s %s", path, fmt.Sprintf(format, args...))
		out, cut := stderr.last()
		if line := lastLine(out, cut, append(known(), seen...)); line != "" {
			msg += fmt.Sprintf("; stderr: %q", line)
		}
		return errors.New(msg)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return fetched{}, describe("was killed (%s): %v", status, context.Cause(ctx))
	case err != nil && runCtx.Err() != nil:
		return fetched{}, describe("did not finish within %v and was killed (%s)", sp.Timeout, status)
	case err != nil && cmd.ProcessState == nil:
		return fetched{}, fmt.Errorf("command %s could not be started: %w", path, err)
	case err != nil:
		return fetched{}, describe("exited with %s", status)
	case stdout.cut:
		return fetched{}, describe("exited with %s but printed more than 1 MiB to standard output", status)
	}
	f, seen, err := parseJSON(stdout.buf.Bytes())
	if err != nil {
		return fetched{}, describe("exited with %s but its output %v", status, err)
	}
	return f, nil
}

// lastLine returns the last line of a command's standard error that is not
// blank, with each of secrets replaced by "(secret)" and cut to 200 bytes.
// cut says that the beginning of the output was dropped: a value cut in
// two at the beginning is not masked, so the first line is never quoted
// then.
func lastLine(stderr []byte, cut bool, secrets []string) string {
	s := string(stderr)
	// Longest first, so that a value within another is not unmasked by
	// replacing the shorter one first. A value of several lines is also
	// masked line by line, in case only a part of it remains.
	var pieces []string
	for _, v := range secrets {
		if v == "" {
			continue
		}
		pieces = append(pieces, v)
		if strings.ContainsRune(v, '\n') {
			for p := range strings.SplitSeq(v, "\n") {
				if p = strings.TrimSpace(p); len(p) >= 4 {
					pieces = append(pieces, p)
				}
			}
		}
	}
	slices.SortFunc(pieces, func(a, b string) int { return len(b) - len(a) })
	for _, p := range pieces {
		s = strings.ReplaceAll(s, p, masked)
	}
	s = strings.TrimRight(s, " \t\r\n")
	i := strings.LastIndexByte(s, '\n')
	if i < 0 && cut {
		return ""
	}
	line := strings.TrimSpace(s[i+1:])
	if len(line) > maxStderrLine {
		n := maxStderrLine
		for n > 0 && !utf8.RuneStart(line[n]) {
			n--
		}
		line = line[:n] + "…"
	}
	return line
}

// capped keeps the first maxContent bytes written to it and whether more
// came. It takes everything, so that the command never blocks on it.
type capped struct {
	buf bytes.Buffer
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := maxContent - c.buf.Len(); len(p) > room {
		c.buf.Write(p[:room])
		c.cut = true
	} else {
		c.buf.Write(p)
	}
	return len(p), nil
}

// tail keeps the last max bytes written to it, and whether some were
// dropped. It holds up to twice max, to move its contents seldom.
type tail struct {
	max int
	buf []byte
	cut bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > t.max {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

// last returns the last max bytes written, and whether any were written
// before them.
func (t *tail) last() ([]byte, bool) {
	if over := len(t.buf) - t.max; over > 0 {
		return t.buf[over:], true
	}
	return t.buf, t.cut
}
