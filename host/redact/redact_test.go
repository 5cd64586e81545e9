package redact_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/host/redact"
)

func TestSetMasksSecretsInStringsAndErrors(t *testing.T) {
	var s redact.Set
	s.Add("hunter22", "abc") // "abc" is too short to mask
	if got := s.String("pw=hunter22; x=abc"); got != "pw=(sensitive); x=abc" {
		t.Fatalf("String: %q", got)
	}
	base := io.ErrUnexpectedEOF
	err := s.Error(errors.Join(errors.New("login hunter22 failed"), base))
	if strings.Contains(err.Error(), "hunter22") || !errors.Is(err, base) {
		t.Fatalf("Error: %q, unwraps to base: %v", err, errors.Is(err, base))
	}
	clean := errors.New("nothing secret")
	if s.Error(clean) != clean {
		t.Fatal("an error without secrets must come back unchanged")
	}
	var none *redact.Set
	if none.String("hunter22") != "hunter22" {
		t.Fatal("a nil set masks nothing")
	}
}

func TestHandlerMasksMessagesAndAttributes(t *testing.T) {
	var s redact.Set
	var buf bytes.Buffer
	log := slog.New(s.Handler(slog.NewJSONHandler(&buf, nil)))
	s.Add("tok-123456")
	log.With("bound", "tok-123456").Info("using tok-123456",
		"str", "x tok-123456",
		"err", errors.New("bad tok-123456"),
		slog.Group("g", "nested", "tok-123456"),
		"bytes", []byte("tok-123456"),
	)
	if strings.Contains(buf.String(), "tok-123456") {
		t.Fatalf("secret in log: %s", buf.String())
	}
	if strings.Count(buf.String(), redact.Mask) != 6 {
		t.Fatalf("want 6 masks: %s", buf.String())
	}
}
