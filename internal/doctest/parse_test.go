package doctest

import (
	"fmt"
	"regexp"
	"strings"
)

// A step is what the test does for one marker of a doc, in the doc's
// order: a fileStep, envStep, runStep or backgroundStep.
type step interface{ isStep() }

// fileStep writes content to path, relative to the working directory, or
// appends it.
type fileStep struct {
	line    int // the marker's
	path    string
	content string
	append  bool
}

// envStep exports name with the value of the test's variable from.
type envStep struct {
	line       int // the marker's
	name, from string
}

// runStep runs the commands of a console block in order.
type runStep struct {
	commands []command
}

// backgroundStep starts a console block's one command in the background
// and waits until its output begins with what the block shows.
type backgroundStep struct {
	line    int // the command's
	command command
}

func (fileStep) isStep()       {}
func (envStep) isStep()        {}
func (runStep) isStep()        {}
func (backgroundStep) isStep() {}

// A command is one "$ " line of a console block (with its continuation
// lines) and the output the block shows for it.
type command struct {
	line int    // the doc's line of its "$ "
	text string // without "$ "; continued lines joined by newlines
	want []string
}

var (
	// markerLine is a doctest marker: <!-- doctest --> or
	// <!-- doctest: WORDS -->.
	markerLine = regexp.MustCompile(`^<!--\s*doctest(?::\s*(.*?))?\s*-->\s*$`)
	// fenceLine opens or closes a fenced block: its fence and its info
	// string.
	fenceLine = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})\\s*([^`\\s]*)")
	// envArg is the argument of an env marker.
	envArg = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z_][A-Za-z0-9_]*)$`)
)

// parse returns the steps of the doc name, whose text is doc. Errors name
// the doc's line.
func parse(name, doc string) ([]step, error) {
	var (
		steps  []step
		marker string // the words of a marker waiting for its block
		marked int    // its line; 0 when none waits
	)
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1 // the line's number
		line := lines[i]
		if m := markerLine.FindStringSubmatch(line); m != nil {
			if marked != 0 {
				return nil, fmt.Errorf("%s:%d: the marker is not followed by a code block", name, marked)
			}
			words := strings.Fields(m[1])
			if len(words) > 0 && words[0] == "env" {
				if len(words) != 2 || !envArg.MatchString(words[1]) {
					return nil, fmt.Errorf("%s:%d: an env marker reads <!-- doctest: env NAME=VAR -->", name, n)
				}
				v, from, _ := strings.Cut(words[1], "=")
				steps = append(steps, envStep{line: n, name: v, from: from})
				continue
			}
			marker, marked = strings.Join(words, " "), n
			continue
		}
		f := fenceLine.FindStringSubmatch(line)
		if f == nil {
			if marked != 0 && strings.TrimSpace(line) != "" {
				return nil, fmt.Errorf("%s:%d: the marker is not followed by a code block", name, marked)
			}
			continue
		}
		// A fenced block: find its end, a fence of the same character at
		// least as long.
		fence, info := f[1], f[2]
		var body []string
		end := i + 1
		for ; end < len(lines); end++ {
			g := fenceLine.FindStringSubmatch(lines[end])
			if g != nil && g[1][0] == fence[0] && len(g[1]) >= len(fence) && g[2] == "" {
				break
			}
			body = append(body, lines[end])
		}
		if end == len(lines) {
			return nil, fmt.Errorf("%s:%d: the code block is not closed", name, n)
		}
		s, err := blockStep(name, n, info, body, marker, marked)
		if err != nil {
			return nil, err
		}
		if s != nil {
			steps = append(steps, s)
		}
		marker, marked = "", 0
		i = end
	}
	if marked != 0 {
		return nil, fmt.Errorf("%s:%d: the marker is not followed by a code block", name, marked)
	}
	return steps, nil
}

// blockStep returns the step of the block whose opening fence is at line
// fence, with info string info and lines body, marked by marker at line
// marked (0 for none); nil for a block the test does not use.
func blockStep(name string, fence int, info string, body []string, marker string, marked int) (step, error) {
	words := strings.Fields(marker)
	switch {
	case marked == 0 && info == "console":
		return nil, fmt.Errorf("%s:%d: a console block without a doctest marker; mark it <!-- doctest --> to run it, or make it a plain ``` block", name, fence)
	case marked == 0:
		return nil, nil
	case len(words) == 2 && (words[0] == "file" || words[0] == "append"):
		content := strings.Join(body, "\n")
		if len(body) > 0 {
			content += "\n"
		}
		return fileStep{line: marked, path: words[1], content: content, append: words[0] == "append"}, nil
	case marker != "" && marker != "background":
		return nil, fmt.Errorf("%s:%d: unknown marker %q; the markers are <!-- doctest -->, <!-- doctest: background -->, <!-- doctest: file PATH -->, <!-- doctest: append PATH --> and <!-- doctest: env NAME=VAR -->", name, marked, marker)
	case info != "console":
		return nil, fmt.Errorf("%s:%d: a doctest marker on a %q block; commands are in ```console blocks", name, marked, info)
	}
	commands, err := parseCommands(name, fence+1, body)
	if err != nil {
		return nil, err
	}
	if marker == "background" {
		if len(commands) != 1 {
			return nil, fmt.Errorf("%s:%d: a background block holds one command, not %d", name, fence, len(commands))
		}
		return backgroundStep{line: commands[0].line, command: commands[0]}, nil
	}
	return runStep{commands: commands}, nil
}

// parseCommands splits the lines of a console block, the first at the
// doc's line first, into commands and their output.
func parseCommands(name string, first int, body []string) ([]command, error) {
	var cmds []command
	for i := 0; i < len(body); i++ {
		line := body[i]
		text, ok := strings.CutPrefix(line, "$ ")
		if !ok {
			if len(cmds) == 0 {
				if strings.TrimSpace(line) == "" {
					continue
				}
				return nil, fmt.Errorf("%s:%d: output before the first command of the block", name, first+i)
			}
			cmds[len(cmds)-1].want = append(cmds[len(cmds)-1].want, line)
			continue
		}
		c := command{line: first + i}
		for strings.HasSuffix(text, `\`) && i+1 < len(body) {
			i++
			text += "\n" + body[i]
		}
		c.text = strings.TrimSpace(text)
		cmds = append(cmds, c)
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("%s:%d: a console block without a command", name, first-1)
	}
	return cmds, nil
}
