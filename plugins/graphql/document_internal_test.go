package graphql

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSelectOperationFindsTheKeywordAndName(t *testing.T) {
	for name, c := range map[string]struct {
		doc, op  string
		want     operation
		wantErr  string // a part of the error, "" for none
		wantsArg string // the argument the error names
	}{
		"shorthand":                 {doc: `{ hello }`, want: operation{Type: opQuery}},
		"anonymous query":           {doc: `query { hello }`, want: operation{Type: opQuery}},
		"named mutation":            {doc: `mutation Add { increment(by: 1) }`, want: operation{Type: opMutation, Name: "Add"}},
		"subscription":              {doc: `subscription S($to: Int!) { count(to: $to) }`, want: operation{Type: opSubscription, Name: "S"}},
		"bom and commas":            {doc: "\uFEFF,,, mutation ,M, { a }", want: operation{Type: opMutation, Name: "M"}},
		"operation named query":     {doc: `mutation query { a }`, want: operation{Type: opMutation, Name: "query"}},
		"directive named mutation":  {doc: `query Q @mutation { a }`, want: operation{Type: opQuery, Name: "Q"}},
		"directive without a name":  {doc: `query @live { a }`, want: operation{Type: opQuery}},
		"object default in vars":    {doc: `query Q($a: In = {mutation: "x", l: [1, {b: 2}]}) @d(x: {y: 1}) { a(in: $a) }`, want: operation{Type: opQuery, Name: "Q"}},
		"keyword in a comment":      {doc: "# mutation M { a }\nquery Q { a }", want: operation{Type: opQuery, Name: "Q"}},
		"keyword in a string":       {doc: `query Q { a(s: "} mutation M { b }") }`, want: operation{Type: opQuery, Name: "Q"}},
		"escaped quote in a string": {doc: `query Q { a(s: "\" } mutation M {") }`, want: operation{Type: opQuery, Name: "Q"}},
		"keyword in a block string": {doc: `query Q { a(s: """ } mutation M { \""" { """) }`, want: operation{Type: opQuery, Name: "Q"}},
		"fragment on a type named mutation": {
			doc:  `fragment F on mutation { a } subscription S { ...F }`,
			want: operation{Type: opSubscription, Name: "S"},
		},
		"fragment first then the operation": {
			doc:  "fragment F on Item { id name }\nmutation M { add { ...F } }",
			want: operation{Type: opMutation, Name: "M"},
		},
		"the named one of several": {doc: `query A { a } mutation B { b } subscription C { c }`, op: "B", want: operation{Type: opMutation, Name: "B"}},
		"numbers":                  {doc: `query Q { a(x: -1.5e+10, y: 0, z: [1E3]) }`, want: operation{Type: opQuery, Name: "Q"}},
		"several without a name":   {doc: `query A { a } query B { b }`, wantErr: "defines 2 operations", wantsArg: "operation_name"},
		"no such name":             {doc: `query A { a }`, op: "B", wantErr: `no operation named "B"`, wantsArg: "operation_name"},
		"only fragments":           {doc: `fragment F on T { a }`, wantErr: "no operation", wantsArg: "query"},
		"unterminated string":      {doc: "query { a(s: \"abc\n) }", wantErr: "string has no end on its line (line 1, column 14)", wantsArg: "query"},
		"unterminated block":       {doc: `query { a(s: """abc) }`, wantErr: "block string has no end", wantsArg: "query"},
		"unclosed brace":           {doc: "query {\n  a {\n    b\n  }\n", wantErr: `"{" has no "}" (line 1, column 7)`, wantsArg: "query"},
		"mismatched bracket":       {doc: `query { a(x: [1) }`, wantErr: `")" closes "["`, wantsArg: "query"},
		"type definition":          {doc: `type Query { a: Int }`, wantErr: `found "type"`, wantsArg: "query"},
		"no selection set":         {doc: `query Q`, wantErr: "has no selection set", wantsArg: "query"},
		"a lone dot":               {doc: `query { a { .F } }`, wantErr: `"." where "..." belongs`, wantsArg: "query"},
		"a stray character":        {doc: `query { a ~ }`, wantErr: `unexpected character '~'`, wantsArg: "query"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := selectOperation(c.doc, c.op)
			if c.wantErr == "" {
				if err != nil || got != c.want {
					t.Fatalf("selectOperation(%q, %q) = %+v, %v; want %+v", c.doc, c.op, got, err, c.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), `argument "`+c.wantsArg+`"`) {
				t.Fatalf("selectOperation(%q, %q) = %+v, %v; want an error about argument %q with %q", c.doc, c.op, got, err, c.wantsArg, c.wantErr)
			}
		})
	}
}

// FuzzSelectOperation checks that the lexer never panics, and that no
// text inside a string, a block string or a comment changes which
// operation a document selects.
func FuzzSelectOperation(f *testing.F) {
	for _, s := range []string{"", "mutation M { a }", `"""`, `\"""`, "}", "{", "\"", "#", "\r", "\n", "query", "...", "\uFEFF", "\x00", "é", `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = selectOperation(s, "")
		_, _ = selectOperation(s, "Q")

		str, _ := json.Marshal(s) // a GraphQL string: JSON's escapes are GraphQL's
		block := strings.ReplaceAll(s, `"""`, `\"""`)
		comment := strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
		want := operation{Type: opSubscription, Name: "S"}
		for _, doc := range []string{
			`subscription S { a(s: ` + string(str) + `) }`,
			`subscription S { a(s: """` + block + ` """) }`,
			"#" + comment + "\nsubscription S { a }",
			"subscription S { a } #" + comment,
			`subscription S($v: String = ` + string(str) + `) @d(s: """` + block + ` """) { a }`,
		} {
			got, err := selectOperation(doc, "")
			if err != nil || got != want {
				t.Fatalf("selectOperation(%q) = %+v, %v; want %+v", doc, got, err, want)
			}
		}
	})
}
