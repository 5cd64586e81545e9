package doctest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A shell is one bash process that runs a doc's commands in turn, in a
// process group of its own, with its stdout and stderr on one pipe.
type shell struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	out      *output
	sentinel string        // printed after each command, with its status
	waited   chan struct{} // closed when bash has been waited for
}

// An output collects what a pipe's writers write, for readers that wait
// for some text to appear in it.
type output struct {
	r       *os.File
	changed chan struct{} // takes a value after each read; capacity 1
	done    chan struct{} // closed when the reader has ended
	mu      sync.Mutex    // guards buf and eof
	buf     []byte
	eof     bool
}

// readOutput starts reading r until it ends or is closed.
func readOutput(r *os.File) *output {
	o := &output{r: r, changed: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		p := make([]byte, 32<<10)
		for {
			n, err := r.Read(p)
			o.mu.Lock()
			o.buf = append(o.buf, p[:n]...)
			o.eof = err != nil
			o.mu.Unlock()
			select {
			case o.changed <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return o
}

// until waits until found, given what the pipe holds so far and whether
// it has ended, reports true, or timeout passes.
func (o *output) until(timeout time.Duration, found func(buf []byte, eof bool) bool) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		o.mu.Lock()
		ok, eof := found(o.buf, o.eof), o.eof
		o.mu.Unlock()
		switch {
		case ok:
			return nil
		case eof:
			return errors.New("the shell ended")
		}
		select {
		case <-o.changed:
		case <-timer.C:
			return fmt.Errorf("not done within %v", timeout)
		}
	}
}

// close ends the reader, waiting up to grace for the pipe's writers to
// end it first, and returns what is left in the pipe.
func (o *output) close(grace time.Duration) string {
	select {
	case <-o.done:
	case <-time.After(grace):
		_ = o.r.Close()
		<-o.done
	}
	_ = o.r.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}

// startShell starts bash in dir with env.
func startShell(dir string, env []string) (*shell, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_, _ = r.Close(), w.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		_, _ = r.Close(), w.Close()
		return nil, fmt.Errorf("starting bash: %w", err)
	}
	_ = w.Close() // the shell and its children hold it now
	s := &shell{cmd: cmd, stdin: stdin, out: readOutput(r), sentinel: "doctest-" + rand.Text(), waited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // its status tells nothing: stop kills it
		close(s.waited)
	}()
	return s, nil
}

// run runs text, a command line, in the shell with stdin from /dev/null,
// and returns what it printed and its exit status. The next command sees
// that status as $?. An error means the shell ended, or the command did
// not end within timeout.
func (s *shell) run(text string, timeout time.Duration) (out string, status int, err error) {
	script := fmt.Sprintf("{ %s\n} </dev/null; __doctest=$?; printf '\\n%s %%d\\n' \"$__doctest\"; (exit \"$__doctest\")\n", text, s.sentinel)
	if _, err := io.WriteString(s.stdin, script); err != nil {
		return "", 0, fmt.Errorf("writing to the shell: %w", err)
	}
	mark := []byte("\n" + s.sentinel + " ")
	var found []byte
	err = s.out.until(timeout, func(buf []byte, _ bool) bool {
		i := bytes.Index(buf, mark)
		if i < 0 {
			return false
		}
		end := bytes.IndexByte(buf[i+len(mark):], '\n')
		if end < 0 {
			return false
		}
		found = buf[:i+len(mark)+end+1]
		return true
	})
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	if err != nil {
		return string(s.out.buf), 0, err
	}
	s.out.buf = s.out.buf[len(found):]
	i := bytes.Index(found, mark)
	status, err = strconv.Atoi(string(bytes.TrimSpace(found[i+len(mark):])))
	if err != nil {
		return "", 0, fmt.Errorf("reading the status: %w", err)
	}
	return string(found[:i]), status, nil
}

// A background is a command the shell runs in the background, writing its
// output to a file.
type background struct {
	command string
	line    int
	log     string // its stdout and stderr
	exit    string // holds its exit status once it has ended
}

// background starts c in the background, its output going to the file
// log and its exit status, once it ends, to log.exit.
func (s *shell) background(c command, log string) (*background, error) {
	b := &background{command: c.text, line: c.line, log: log, exit: log + ".exit"}
	script := fmt.Sprintf("( { %s\n} </dev/null >%s 2>&1; echo $? >%s ) &", c.text, shellQuote(b.log), shellQuote(b.exit))
	out, status, err := s.run(script, commandTimeout)
	if err != nil {
		return nil, err
	}
	if status != 0 || out != "" {
		return nil, fmt.Errorf("starting it: exit status %d: %s", status, out)
	}
	return b, nil
}

// waitReady waits until the command's output begins with want, for at
// most timeout.
func (b *background) waitReady(want []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got := b.output()
		d, ok := prefix(want, lines(got))
		if ok {
			return nil
		}
		if status, err := os.ReadFile(b.exit); err == nil {
			return fmt.Errorf("it ended (exit status %s) before its output began as the doc shows (-doc +got):\n%s", strings.TrimSpace(string(status)), d)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("its output did not begin as the doc shows within %v (-doc +got):\n%s", timeout, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// output returns what the command has printed so far.
func (b *background) output() string {
	out, err := os.ReadFile(b.log)
	if err != nil {
		return ""
	}
	return string(out)
}

// stop stops every process of the shell's group: SIGTERM, and SIGKILL to
// those left after grace. It returns an error if some survive that too.
func (s *shell) stop(grace time.Duration) error {
	_ = s.stdin.Close()
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	gone := func(d time.Duration) bool {
		deadline := time.Now().Add(d)
		for {
			select {
			case <-s.waited:
				if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
					return true
				}
			default:
			}
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !gone(grace) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if !gone(5 * time.Second) {
			<-s.waited
			s.out.close(time.Second)
			return fmt.Errorf("processes of group %d survived SIGKILL", pgid)
		}
	}
	s.out.close(5 * time.Second)
	return nil
}
