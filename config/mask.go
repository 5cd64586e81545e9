package config

import (
	"bytes"
	"regexp"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Secrets in source snippets.
//
// Diagnostics show the lines of the source they are about, and the lines
// around them. A literal given to a sensitive attribute must not appear in
// them, so Load keeps, as the Bytes of each file in Config.Files, a copy of
// the source in which every byte of such a literal is replaced by '*'
// (line breaks are kept, so that lines, columns and byte offsets stay
// right). The masking works on the tokens and the lines of the source, not
// on its syntax tree, so that it also covers files that do not parse (a bad
// escape, an unclosed quote). It hides:
//
//   - the value of every attribute or object key whose name is a sensitive
//     one (see sensitiveName): the names the shipped plugins mark
//     sensitive, the host's own sensitive settings (tracing headers, a
//     plugin's env), names that look like credentials, and names one or
//     two edits away from those (a misspelt "pasword" still hides its
//     value);
//   - the default of a variable declared sensitive, or whose name is a
//     sensitive one;
//   - the password of a URL's userinfo (scheme://user:password@host), of a
//     DSN (user:password@tcp(host)) and of password=... pairs, wherever they
//     appear;
//   - once the plugins' schemas are known, the value of every attribute a
//     schema marks sensitive (see Config.DecodeResources).
//
// The hidden literals are also replaced in the summaries and details of the
// diagnostics Load and DecodeResources return, and by Config.HideSecrets in
// those made elsewhere.

// maskByte replaces each byte of a hidden literal.
const maskByte = '*'

// sensitiveNames are attribute names whose values are secrets: those the
// shipped plugins mark sensitive (postgres url and password, mysql dsn and
// password, redis password and sentinel_password, kafka sasl_password),
// the host's own (tracing headers, a plugin's env), and common names of
// credentials.
var sensitiveNames = map[string]bool{
	"password": true, "passwd": true, "pwd": true, "secret": true, "token": true,
	"dsn": true, "url": true, "uri": true, "credentials": true, "credential": true,
	"authorization": true, "auth": true, "api_key": true, "apikey": true,
	"private_key": true, "secret_key": true, "access_key": true,
	"connection_string": true, "conn_string": true, "cookie": true,
	"headers": true, "env": true, "sasl_password": true, "sentinel_password": true,
}

// sensitiveSuffixes mark names such as db_password or x_api_key.
var sensitiveSuffixes = []string{
	"_password", "_passwd", "_pwd", "_secret", "_token", "_key", "_credentials",
	"_dsn", "_url", "_uri", "_auth", "_authorization", "_cookie",
}

// sensitiveParts mark names that contain them anywhere.
var sensitiveParts = []string{"password", "passwd", "secret", "token", "credential", "private"}

// sensitiveName reports whether name looks like the name of a secret. The
// comparison ignores case, and dashes count as underscores, so that header
// and environment variable names (X-Api-Key, DB_PASSWORD) match too.
func sensitiveName(name string, extra map[string]bool) bool {
	if extra[name] {
		return true
	}
	n := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	if sensitiveNames[n] || extra[n] {
		return true
	}
	for _, s := range sensitiveSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	for _, p := range sensitiveParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	// A misspelling of a long sensitive name: the rule of the "Did you
	// mean" hints. Short names (url, dsn) would catch too many others.
	if len(n) >= 6 && len(n) <= 64 {
		for s := range sensitiveNames {
			if len(s) >= 6 && levenshtein.Distance(n, s, nil) < 3 {
				return true
			}
		}
		for s := range extra {
			if len(s) >= 6 && levenshtein.Distance(n, s, nil) < 3 {
				return true
			}
		}
	}
	// A misspelt part of a compound name: DB_PASSWROD.
	for _, part := range strings.Split(n, "_") {
		if len(part) < 6 || len(part) > 64 {
			continue
		}
		for _, s := range sensitiveParts {
			if len(s) >= 6 && levenshtein.Distance(part, s, nil) < 3 {
				return true
			}
		}
	}
	return false
}

// masker marks the bytes of one file's source that are to be hidden.
type masker struct {
	src   []byte
	hide  []bool
	extra map[string]bool // more sensitive names, from schemas
	parts []string        // secrets found inside hidden runs
}

func newMasker(src []byte, extra map[string]bool) *masker {
	return &masker{src: src, hide: make([]bool, len(src)), extra: extra}
}

// maskSource returns a copy of src with the secrets it holds replaced, and
// the secrets, or src itself and nil when it holds none.
func maskSource(src []byte, extra map[string]bool) ([]byte, []string) {
	toks, _ := hclsyntax.LexConfig(src, "", hcl.InitialPos)
	return maskTokens(src, toks, extra)
}

// maskTokens is maskSource for a file already lexed.
func maskTokens(src []byte, toks hclsyntax.Tokens, extra map[string]bool) ([]byte, []string) {
	m := newMasker(src, extra)
	m.tokens(toks)
	m.lines()
	m.credentials()
	return m.result()
}

// mark hides src[from:to].
func (m *masker) mark(from, to int) {
	from, to = max(from, 0), min(to, len(m.src))
	for i := from; i < to; i++ {
		m.hide[i] = true
	}
}

// result applies the marks.
func (m *masker) result() ([]byte, []string) {
	var out []byte
	var secrets []string
	for i := 0; i < len(m.src); {
		if !m.hide[i] {
			i++
			continue
		}
		if out == nil {
			out = bytes.Clone(m.src)
		}
		j := i
		for j < len(m.src) && m.hide[j] {
			if c := m.src[j]; c != '\n' && c != '\r' {
				out[j] = maskByte
			}
			j++
		}
		for _, s := range strings.FieldsFunc(string(m.src[i:j]), func(r rune) bool { return r == '\n' || r == '\r' }) {
			if s = strings.TrimSpace(s); strings.Trim(s, string(maskByte)) != "" {
				secrets = append(secrets, s) // not masked before
			}
		}
		i = j
	}
	if out == nil {
		return m.src, nil
	}
	return out, append(secrets, m.parts...)
}

// tokens hides the values of sensitive attributes and object keys, and the
// defaults of sensitive variables, found in the tokens of the file.
func (m *masker) tokens(toks hclsyntax.Tokens) {
	credEnd := -1 // the end of the credential block the tokens are in
	for i := 0; i < len(toks); i++ {
		name, next := keyAt(toks, i)
		if next < 0 {
			continue
		}
		if name == "variable" {
			m.variableBlock(toks, i)
		}
		if name == "credential" && i > credEnd && (i == 0 || toks[i-1].Type == hclsyntax.TokenNewline) {
			credEnd = blockEnd(toks, next)
		}
		if next >= len(toks) {
			continue
		}
		switch toks[next].Type {
		case hclsyntax.TokenEqual, hclsyntax.TokenColon:
		default:
			continue
		}
		if name == "variables" && i < credEnd {
			// A credential's variables name environment variables, such
			// as { token = "API_TOKEN" }: names, not secrets.
			i = valueEnd(toks, next+1) - 1
			continue
		}
		if sensitiveName(name, m.extra) {
			m.maskTokens(toks, next+1, valueEnd(toks, next+1))
		}
	}
}

// blockEnd returns the index of the brace that closes the block whose
// labels start at toks[i], or -1 when toks[i:] holds no block body.
func blockEnd(toks hclsyntax.Tokens, i int) int {
	for ; i < len(toks) && toks[i].Type != hclsyntax.TokenOBrace; i++ {
		switch toks[i].Type {
		case hclsyntax.TokenOQuote, hclsyntax.TokenQuotedLit, hclsyntax.TokenCQuote, hclsyntax.TokenIdent:
		default:
			return -1 // not a block header
		}
	}
	depth := 0
	for ; i < len(toks); i++ {
		switch {
		case opens[toks[i].Type]:
			depth++
		case closes[toks[i].Type]:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(toks)
}

// keyAt returns the name at toks[i], an identifier or a quoted literal
// without interpolations, and the index of the token after it; next is -1
// when there is none.
func keyAt(toks hclsyntax.Tokens, i int) (name string, next int) {
	switch toks[i].Type {
	case hclsyntax.TokenIdent:
		if i > 0 && toks[i-1].Type == hclsyntax.TokenDot {
			return "", -1 // an attribute in a traversal, a.b
		}
		return string(toks[i].Bytes), i + 1
	case hclsyntax.TokenOQuote:
		if i+2 < len(toks) && toks[i+1].Type == hclsyntax.TokenQuotedLit && toks[i+2].Type == hclsyntax.TokenCQuote {
			return string(toks[i+1].Bytes), i + 3
		}
	}
	return "", -1
}

// opens and closes say how tokens nest.
var (
	opens = map[hclsyntax.TokenType]bool{
		hclsyntax.TokenOBrace: true, hclsyntax.TokenOBrack: true, hclsyntax.TokenOParen: true,
		hclsyntax.TokenOQuote: true, hclsyntax.TokenOHeredoc: true,
		hclsyntax.TokenTemplateInterp: true, hclsyntax.TokenTemplateControl: true,
	}
	closes = map[hclsyntax.TokenType]bool{
		hclsyntax.TokenCBrace: true, hclsyntax.TokenCBrack: true, hclsyntax.TokenCParen: true,
		hclsyntax.TokenCQuote: true, hclsyntax.TokenCHeredoc: true, hclsyntax.TokenTemplateSeqEnd: true,
	}
)

// valueEnd returns the index just past the value that starts at toks[i]:
// the first line break, comma or unmatched closing bracket outside any
// bracket, quote or heredoc.
func valueEnd(toks hclsyntax.Tokens, i int) int {
	depth := 0
	for ; i < len(toks); i++ {
		t := toks[i].Type
		switch {
		case t == hclsyntax.TokenEOF:
			return i
		case opens[t]:
			depth++
		case closes[t]:
			if depth == 0 {
				return i
			}
			depth--
		case depth == 0 && (t == hclsyntax.TokenNewline || t == hclsyntax.TokenComma):
			return i
		}
	}
	return i
}

// maskTokens hides the literals in toks[from:to]: strings, heredocs,
// numbers and bare words, but not the quotes and brackets around them, nor
// references (var.x, resource.t.n.a), function names, and the first
// arguments of file and env (a path and a name).
func (m *masker) maskTokens(toks hclsyntax.Tokens, from, to int) {
	for k := from; k < to && k < len(toks); k++ {
		t := toks[k]
		switch t.Type {
		case hclsyntax.TokenQuotedLit, hclsyntax.TokenStringLit, hclsyntax.TokenNumberLit,
			hclsyntax.TokenInvalid, hclsyntax.TokenBadUTF8, hclsyntax.TokenQuotedNewline:
		case hclsyntax.TokenIdent:
			if name := string(t.Bytes); (name == "file" || name == "env") && k+1 < to && toks[k+1].Type == hclsyntax.TokenOParen {
				// A file's path and an environment variable's name are not
				// secrets, and the diagnostics about them need them.
				k = valueEnd(toks, k+2) - 1
				continue
			}
			if reference(toks, k) {
				continue
			}
		default:
			continue
		}
		m.mark(t.Range.Start.Byte, t.Range.End.Byte)
	}
}

// reference reports whether the identifier at toks[k] is part of a
// reference or names a function.
func reference(toks hclsyntax.Tokens, k int) bool {
	if k > 0 && toks[k-1].Type == hclsyntax.TokenDot {
		return true
	}
	if k+1 < len(toks) {
		switch toks[k+1].Type {
		case hclsyntax.TokenDot, hclsyntax.TokenOParen, hclsyntax.TokenOBrack:
			return true
		}
	}
	return false
}

// variableBlock hides the default of the variable block whose header
// starts at toks[i] when the block sets sensitive = true or its name is a
// sensitive one.
func (m *masker) variableBlock(toks hclsyntax.Tokens, i int) {
	j := i + 1
	label := ""
	if j+2 < len(toks) && toks[j].Type == hclsyntax.TokenOQuote && toks[j+1].Type == hclsyntax.TokenQuotedLit {
		label = string(toks[j+1].Bytes)
		j += 3
	} else if j < len(toks) && toks[j].Type == hclsyntax.TokenIdent {
		label = string(toks[j].Bytes)
		j++
	}
	if j >= len(toks) || toks[j].Type != hclsyntax.TokenOBrace {
		return
	}
	end := j + 1
	for depth := 1; end < len(toks) && depth > 0; end++ {
		switch t := toks[end].Type; {
		case t == hclsyntax.TokenEOF:
			depth = 0
		case opens[t]:
			depth++
		case closes[t]:
			depth--
		}
	}
	sensitive := sensitiveName(label, m.extra)
	defFrom, defTo := -1, -1
	for k := j + 1; k+2 < end; k++ {
		if toks[k].Type != hclsyntax.TokenIdent || toks[k+1].Type != hclsyntax.TokenEqual {
			continue
		}
		switch string(toks[k].Bytes) {
		case "sensitive":
			if toks[k+2].Type == hclsyntax.TokenIdent && string(toks[k+2].Bytes) == "true" {
				sensitive = true
			}
		case "default":
			defFrom, defTo = k+2, valueEnd(toks, k+2)
		}
	}
	if sensitive && defFrom >= 0 {
		m.maskTokens(toks, defFrom, defTo)
	}
}

// heredocStart matches the opening of a heredoc, capturing its marker.
var heredocStart = regexp.MustCompile(`^\s*<<-?([A-Za-z_][A-Za-z0-9_-]*)\s*$`)

// lines hides, line by line, the values of sensitive attributes, in case an
// earlier error (an unclosed quote) has put the tokens out of step with the
// lines. A heredoc value is hidden up to its closing marker.
func (m *masker) lines() {
	for start := 0; start < len(m.src); {
		end := bytes.IndexByte(m.src[start:], '\n')
		if end < 0 {
			end = len(m.src)
		} else {
			end += start
		}
		if name, value := attributeOnLine(m.src, start, end); value >= 0 && sensitiveName(name, m.extra) {
			if hd := heredocStart.FindSubmatch(m.src[value:end]); hd != nil {
				m.maskHeredoc(end, string(hd[1]))
			} else {
				m.maskExpression(value, end)
			}
		}
		start = end + 1
	}
}

// attributeOnLine reads src[start:end] as "name = value" or "name: value",
// the name perhaps quoted, and returns the name and the offset of the
// value; value is -1 when the line is not of that form.
func attributeOnLine(src []byte, start, end int) (name string, value int) {
	i := start
	for i < end && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	if i < end && src[i] == '"' {
		i++
	}
	from := i
	for i < end && (src[i] == '_' || src[i] == '-' || src[i] >= 'a' && src[i] <= 'z' || src[i] >= 'A' && src[i] <= 'Z' || src[i] >= '0' && src[i] <= '9') {
		i++
	}
	if i == from || src[from] >= '0' && src[from] <= '9' || src[from] == '-' {
		return "", -1
	}
	name = string(src[from:i])
	if i < end && src[i] == '"' {
		i++
	}
	for i < end && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	if i >= end || src[i] != '=' && src[i] != ':' || i+1 < end && src[i+1] == '=' {
		return "", -1
	}
	return name, i + 1
}

// maskExpression hides the literals in src[from:to], lexed on their own.
func (m *masker) maskExpression(from, to int) {
	toks, _ := hclsyntax.LexExpression(m.src[from:to], "", hcl.Pos{Line: 1, Column: 1, Byte: from})
	m.maskTokens(toks, 0, len(toks))
}

// maskHeredoc hides the lines after offset up to the one that holds only
// marker.
func (m *masker) maskHeredoc(offset int, marker string) {
	rest := m.src[offset:]
	pos := offset
	for len(rest) > 0 {
		line := rest
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			line = rest[:nl+1]
		}
		if strings.TrimSpace(string(line)) == marker {
			return
		}
		m.mark(pos, pos+len(line))
		pos += len(line)
		rest = rest[len(line):]
	}
}

// credentialPatterns match credentials in any text; the first group is the
// secret part.
var credentialPatterns = []*regexp.Regexp{
	// scheme://user:password@host
	regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@"'?#]*:([^@\s"'/]+)@`),
	// user:password@tcp(host) and the other go-sql-driver forms
	regexp.MustCompile(`[^\s:@"'/(]+:([^@\s"'/]+)@(?:tcp|udp|unix|\()`),
	// password=..., in key/value connection strings and URL queries
	regexp.MustCompile(`(?i)\b(?:password|passwd|pwd|sslpassword|secret|token|api_?key|access_token)=([^\s&;"',]+)`),
}

// credentialHints are bytes each of credentialPatterns needs, to skip the
// slow search in the files that lack them.
var credentialHints = [][]byte{[]byte("://"), []byte("@"), []byte("=")}

// credentials hides the passwords of credentials wherever they appear.
func (m *masker) credentials() {
	lower := bytes.ToLower(m.src)
	for i, re := range credentialPatterns {
		if !bytes.Contains(lower, credentialHints[i]) {
			continue
		}
		if i == len(credentialPatterns)-1 && !bytes.Contains(lower, []byte("pass")) && !bytes.Contains(lower, []byte("pwd")) &&
			!bytes.Contains(lower, []byte("secret")) && !bytes.Contains(lower, []byte("token")) && !bytes.Contains(lower, []byte("key")) {
			continue
		}
		for _, loc := range re.FindAllSubmatchIndex(m.src, -1) {
			if bytes.Contains(m.src[loc[2]:loc[3]], []byte("${")) {
				continue // a reference, as in user:${var.password}@
			}
			m.mark(loc[2], loc[3])
			m.parts = append(m.parts, string(m.src[loc[2]:loc[3]]))
		}
	}
}

// maskRange hides the literals in rng of the file (for a value a schema
// marks sensitive) and returns what it hid.
func maskRange(f *hcl.File, rng hcl.Range) []string {
	if f == nil || rng.Start.Byte < 0 || rng.End.Byte > len(f.Bytes) || rng.Start.Byte >= rng.End.Byte {
		return nil
	}
	m := newMasker(f.Bytes, nil)
	m.maskExpression(rng.Start.Byte, rng.End.Byte)
	out, secrets := m.result()
	f.Bytes = out
	return secrets
}

// secretText is what replaces a hidden literal in a diagnostic's text.
const secretText = "(sensitive value)"

// scrubSecrets replaces the secrets in the summaries and details of diags.
// Secrets shorter than four bytes, and true, false and null, are left: they
// would replace parts of ordinary words.
func scrubSecrets(diags hcl.Diagnostics, secrets []string) hcl.Diagnostics {
	var list []string
	for _, s := range secrets {
		s = strings.Trim(s, `"`)
		if len(s) < 4 || strings.Trim(s, string(maskByte)) == "" || s == "true" || s == "false" || s == "null" {
			continue
		}
		list = append(list, s)
	}
	if len(list) == 0 {
		return diags
	}
	// Longest first, so that a secret that holds another is replaced whole.
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, secretText)
	}
	r := strings.NewReplacer(pairs...)
	for _, d := range diags {
		d.Summary = r.Replace(d.Summary)
		d.Detail = r.Replace(d.Detail)
	}
	return diags
}

// HideSecrets replaces, in the summaries and details of diags, the literals
// that Load and DecodeResources hid in the snippets of Files, and returns
// diags. Load and DecodeResources apply it to their own diagnostics; apply
// it to those made elsewhere from this configuration, such as a driver's
// complaints about a resource.
func (c *Config) HideSecrets(diags hcl.Diagnostics) hcl.Diagnostics {
	if c == nil {
		return diags
	}
	return scrubSecrets(diags, c.secrets)
}
