package credential

import (
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Sources of credential values: Spec.Source.
const (
	// SourceEnv reads each attribute from an environment variable of the
	// host.
	SourceEnv = "env"
	// SourceFile reads the attributes from a file, and watches it.
	SourceFile = "file"
	// SourceExec runs a command and reads the attributes from its output,
	// and runs it again before the expiration it states.
	SourceExec = "exec"
)

// File formats: Spec.Format.
const (
	// FormatJSON is a JSON object whose string values are the attributes.
	FormatJSON = "json"
	// FormatText is the whole file, one attribute named "value".
	FormatText = "text"
)

// TextAttr is the attribute that holds a file of format text.
const TextAttr = "value"

// Defaults of the Spec's durations, and the bounds of refreshing.
const (
	defaultTimeout      = 30 * time.Second
	defaultPollInterval = 250 * time.Millisecond
	// minPollInterval is the shortest PollInterval allowed.
	minPollInterval = 10 * time.Millisecond
	// maxDefaultBefore caps the default RefreshBefore.
	maxDefaultBefore = 5 * time.Minute
	// minBefore is how long before its expiry a value is refreshed at the
	// latest.
	minBefore = 100 * time.Millisecond
	// minInterval is the least time between two scheduled runs of a
	// command, whatever lifetime its values state.
	minInterval = 100 * time.Millisecond
)

// Spec describes one credential block. Fields that do not belong to the
// source must be left zero.
type Spec struct {
	// Name is the block's label, how resources refer to the credential.
	Name string
	// Source is where the values come from: SourceEnv, SourceFile or
	// SourceExec.
	Source string
	// Vars (env) maps each attribute's name to the environment variable
	// that holds its value.
	Vars map[string]string
	// Path (file) is the absolute path of the file.
	Path string
	// Format (file) is FormatJSON ("" means it) or FormatText.
	Format string
	// Command (exec) is the command's argv. Command[0] is an absolute path
	// or a bare name looked up in PATH when New runs.
	Command []string
	// Dir (exec) is the command's working directory; "" means the host's.
	Dir string
	// Timeout (exec) bounds one run of the command; 0 means 30s.
	Timeout time.Duration
	// RefreshBefore (file, exec) is how long before the expiration a
	// value states it is fetched again: the command is run, the file read
	// even if it seems unchanged. 0 means a third of the value's
	// lifetime, at most 5m; it is at least 100ms.
	RefreshBefore time.Duration
	// PollInterval (file) is how often the file is checked for a change;
	// 0 means 250ms, and it is at least 10ms.
	PollInterval time.Duration
}

// validate returns what is wrong with sp, and the command's path resolved
// in PATH (exec).
func (sp Spec) validate() (path string, errs []error) {
	bad := func(field, format string, args ...any) {
		errs = append(errs, &SpecError{Name: sp.Name, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if sp.Name == "" {
		bad("", "the block needs a label, the name resources use to refer to it")
	}
	unused := func(field string, set bool) {
		if set {
			bad(field, "not used by source %q; remove it", sp.Source)
		}
	}
	switch sp.Source {
	case SourceEnv, SourceFile, SourceExec:
	case "":
		bad("source", "required: one of %q, %q or %q", SourceEnv, SourceFile, SourceExec)
		return "", errs
	default:
		bad("source", "%q is not a source; use %q, %q or %q", sp.Source, SourceEnv, SourceFile, SourceExec)
		return "", errs
	}
	if sp.Source != SourceEnv {
		unused("variables", len(sp.Vars) != 0)
	}
	if sp.Source != SourceFile {
		unused("path", sp.Path != "")
		unused("format", sp.Format != "")
		unused("poll_interval", sp.PollInterval != 0)
	}
	if sp.Source != SourceExec {
		unused("command", len(sp.Command) != 0)
		unused("dir", sp.Dir != "")
		unused("timeout", sp.Timeout != 0)
	}
	if sp.Source == SourceEnv {
		unused("refresh_before", sp.RefreshBefore != 0)
	} else if sp.RefreshBefore < 0 {
		bad("refresh_before", "must not be negative, got %v", sp.RefreshBefore)
	}
	switch sp.Source {
	case SourceEnv:
		if len(sp.Vars) == 0 {
			bad("variables", `required for source "env": map each attribute to the environment variable that holds it, for example variables = { password = "PG_PASSWORD" }`)
		}
		for _, attr := range slices.Sorted(maps.Keys(sp.Vars)) {
			v := sp.Vars[attr]
			switch {
			case attr == "":
				bad("variables", "an attribute name is empty")
			case v == "":
				bad("variables", "attribute %q names no environment variable", attr)
			case strings.ContainsAny(v, "=\x00"):
				bad("variables", "attribute %q: %q is not an environment variable's name", attr, v)
			}
		}
	case SourceFile:
		switch {
		case sp.Path == "":
			bad("path", `required for source "file": the absolute path of the file that holds the credential`)
		case !filepath.IsAbs(sp.Path):
			bad("path", "%q is not an absolute path", sp.Path)
		}
		if sp.Format != "" && sp.Format != FormatJSON && sp.Format != FormatText {
			bad("format", "%q is not a format; use %q (the default) or %q", sp.Format, FormatJSON, FormatText)
		}
		if sp.PollInterval != 0 && sp.PollInterval < minPollInterval {
			bad("poll_interval", "must be at least %v, got %v", minPollInterval, sp.PollInterval)
		}
	case SourceExec:
		if sp.Timeout < 0 {
			bad("timeout", "must not be negative, got %v", sp.Timeout)
		}
		switch {
		case len(sp.Command) == 0 || sp.Command[0] == "":
			bad("command", `required for source "exec": the command's argv, for example ["/usr/local/bin/pgcred", "--role", "app"]`)
		case filepath.IsAbs(sp.Command[0]):
			path = sp.Command[0]
		case strings.ContainsRune(sp.Command[0], filepath.Separator) || strings.ContainsRune(sp.Command[0], '/'):
			bad("command", "%q must be an absolute path or a bare name found in PATH", sp.Command[0])
		default:
			p, err := exec.LookPath(sp.Command[0])
			if err != nil {
				bad("command", "%q was not found in PATH (%v); give its absolute path", sp.Command[0], err)
			}
			path = p
		}
	}
	return path, errs
}
