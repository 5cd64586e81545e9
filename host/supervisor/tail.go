package supervisor

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// tailKeep is how much of the end of a plugin's stderr a start error
// quotes.
const tailKeep = 512

// tailReader passes a plugin's stderr through and keeps its last bytes,
// so that a plugin that fails to start can be quoted in the error.
type tailReader struct {
	io.ReadCloser

	mu  sync.Mutex // guards buf
	buf []byte
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		t.mu.Lock()
		t.buf = append(t.buf, p[:n]...)
		if len(t.buf) > 2*tailKeep {
			t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailKeep:]...)
		}
		t.mu.Unlock()
	}
	return n, err
}

// tail returns the last lines read, joined by " | ", at most tailKeep
// bytes, or "".
func (t *tailReader) tail() string {
	t.mu.Lock()
	b := bytes.TrimSpace(t.buf)
	if len(b) > tailKeep {
		b = b[len(b)-tailKeep:]
	}
	s := string(b)
	t.mu.Unlock()
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, " | ")
}
