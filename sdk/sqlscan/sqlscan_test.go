package sqlscan_test

import (
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/sdk/sqlscan"
)

// words returns the statements of sql, each as its tokens' texts joined
// by spaces.
func words(d sqlscan.Dialect, sql string) []string {
	var out []string
	for st := range d.Statements(sql) {
		var ts []string
		for t := range st.Tokens() {
			ts = append(ts, t.Text)
		}
		out = append(out, strings.Join(ts, " "))
	}
	return out
}

func TestStatementsSkipCommentsAndQuotes(t *testing.T) {
	for _, c := range []struct {
		name string
		d    sqlscan.Dialect
		sql  string
		want []string
	}{
		{"empty", sqlscan.PostgreSQL, " ;; -- only a comment\n/* and; another */", nil},
		{"split", sqlscan.PostgreSQL, "SELECT 1; SET x=2 ;", []string{"SELECT 1", "SET x = 2"}},
		{"pg strings", sqlscan.PostgreSQL, `SELECT 'a;b''c', E'd\'; SET', "e;""f"`, []string{`SELECT 'a;b''c' , E 'd\'; SET' , "e;""f"`}},
		{"pg standard string ends at the quote after a backslash", sqlscan.PostgreSQL, `SELECT 'a\'; SET x = 1`, []string{`SELECT 'a\'`, "SET x = 1"}},
		{"pg dollar quotes", sqlscan.PostgreSQL, "DO $$ SET x; $$; SELECT $tag$ ; $ $tag$, $1", []string{"DO $$ SET x; $$", "SELECT $tag$ ; $ $tag$ , $ 1"}},
		{"pg nested comment", sqlscan.PostgreSQL, "/* a /* b */ SET */ SELECT 1", []string{"SELECT 1"}},
		{"pg word with dollar", sqlscan.PostgreSQL, "SELECT a$b", []string{"SELECT a$b"}},
		{"mysql backslash", sqlscan.MySQL, `SELECT 'a\'; SET', "b\"; SET"`, []string{`SELECT 'a\'; SET' , "b\"; SET"`}},
		{"mysql comments", sqlscan.MySQL, "SELECT 1 # SET x\n, 2 -- SET y\n, 3--4", []string{"SELECT 1 , 2 , 3 - - 4"}},
		{"mysql backticks", sqlscan.MySQL, "SELECT `a``;b` FROM t", []string{"SELECT `a``;b` FROM t"}},
		{"mysql executable comments", sqlscan.MySQL, "/*!40101 SET NAMES utf8 */; /*M!100100 SET x=1 */ /*+ hint */ SELECT 1", []string{"SET NAMES utf8", "SET x = 1 SELECT 1"}},
		{"mysql block comments do not nest", sqlscan.MySQL, "/* a /* b */ SELECT 1", []string{"SELECT 1"}},
		{"sqlite brackets", sqlscan.SQLite, "SELECT [a;b], `c;d`, \"e;f\" FROM t", []string{"SELECT [a;b] , `c;d` , \"e;f\" FROM t"}},
		{"sqlite backslash is a byte", sqlscan.SQLite, `SELECT 'a\'; BEGIN`, []string{`SELECT 'a\'`, "BEGIN"}},
		{"unterminated string", sqlscan.MySQL, "SELECT 'abc", []string{"SELECT 'abc"}},
		{"unterminated comment", sqlscan.SQLite, "SELECT 1 /* SET", []string{"SELECT 1"}},
		{"numbers", sqlscan.SQLite, "SELECT 1.5e3, 0x1F", []string{"SELECT 1.5e3 , 0x1F"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := words(c.d, c.sql); !slices.Equal(got, c.want) {
				t.Errorf("statements of %q:\n got %q\nwant %q", c.sql, got, c.want)
			}
		})
	}
}

func TestTokenKindsAndFirstWords(t *testing.T) {
	var got []sqlscan.Statement
	for st := range sqlscan.MySQL.Statements(`  set @x := 'v' ; BEGIN`) {
		got = append(got, st)
	}
	if len(got) != 2 {
		t.Fatalf("%d statements", len(got))
	}
	st := got[0]
	if !st.First().Is("SET") || !st.Second().IsPunct('@') || st.Text() != "set @x := 'v'" {
		t.Errorf("first statement: first %+v, second %+v, text %q", st.First(), st.Second(), st.Text())
	}
	var kinds []sqlscan.Kind
	for tok := range st.Tokens() {
		if st.Text()[tok.Pos:tok.Pos+len(tok.Text)] != tok.Text {
			t.Errorf("token %+v is not at its position", tok)
		}
		kinds = append(kinds, tok.Kind)
	}
	want := []sqlscan.Kind{sqlscan.Word, sqlscan.Punct, sqlscan.Word, sqlscan.Punct, sqlscan.Punct, sqlscan.String}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	if b := got[1]; !b.First().Is("begin") || b.Second() != (sqlscan.Token{}) || b.First().Pos != 0 {
		t.Errorf("second statement: %+v %+v", b.First(), b.Second())
	}
	if !st.HasWord("set") || st.HasWord("v") || !got[0].First().HasPrefix("se") {
		t.Error("HasWord or HasPrefix")
	}
}

func TestScanningAllocatesNothing(t *testing.T) {
	sql := "SELECT 'a', \"b\", $$c$$ FROM t /* x */ WHERE y = $1; SET z = 1"
	n := testing.AllocsPerRun(100, func() {
		for st := range sqlscan.PostgreSQL.Statements(sql) {
			_ = st.HasWord("temp")
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per scan", n)
	}
}

var dialects = map[string]sqlscan.Dialect{"postgresql": sqlscan.PostgreSQL, "mysql": sqlscan.MySQL, "sqlite": sqlscan.SQLite}

// FuzzStatements checks, on any text and in every dialect, that scanning
// ends, that every token is the text at its position, in order and
// without overlap, that no token holds a semicolon outside quotes, and
// that a statement scanned again on its own begins and ends with the
// tokens it was split with.
func FuzzStatements(f *testing.F) {
	for _, s := range []string{"SELECT 1; SET x = 1", "$$", "$a$ $a$", "'", "E'\\'", "/*", "/*!1 a */ b", "\"a\"\"b\"", "`a`", "[a", "-- x\n#y\nz", "2*/*c*/3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		for name, d := range dialects {
			for st := range d.Statements(sql) {
				text := st.Text()
				if !strings.Contains(sql, text) {
					t.Fatalf("%s: statement %q is not in the text", name, text)
				}
				prev := 0
				n := 0
				for tok := range st.Tokens() {
					if tok.Pos < prev || text[tok.Pos:tok.Pos+len(tok.Text)] != tok.Text || tok.Text == "" {
						t.Fatalf("%s: token %+v out of place in %q", name, tok, text)
					}
					if tok.IsPunct(';') {
						t.Fatalf("%s: statement %q holds a semicolon", name, text)
					}
					switch n {
					case 0:
						if tok != st.First() {
							t.Fatalf("%s: first token %+v, split with %+v", name, tok, st.First())
						}
					case 1:
						if tok != st.Second() {
							t.Fatalf("%s: second token %+v, split with %+v", name, tok, st.Second())
						}
					}
					prev = tok.Pos + len(tok.Text)
					n++
				}
				if n == 0 || prev != len(text) || n == 1 && st.Second() != (sqlscan.Token{}) {
					t.Fatalf("%s: statement %q has %d tokens", name, text, n)
				}
			}
		}
	})
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
