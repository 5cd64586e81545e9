package postgres

import "github.com/nebula-resource/nebula-resource/sdk/sqlscan"

// effect is what a statement may leave in the session beyond its
// transaction, which a Reset must undo before another caller gets the
// session.
type effect uint8

const (
	// effectSession: settings, temporary objects, cursors, listens,
	// advisory locks, the role (undone by resetSession).
	effectSession effect = 1 << iota
	// effectPrepared: the session's prepared statements changed behind
	// pgx's statement cache (PREPARE, DEALLOCATE, DISCARD), which is
	// cleared and the statements deallocated.
	effectPrepared
)

// statementEffect reads the SQL text of one call (which may hold several
// statements) and returns what it may leave in the session. It errs on
// the safe side: a word it cannot rule out (a DO block, a CALL, a TEMP
// anywhere) counts, and costs only a reset. What it cannot see is a
// function of the caller's that changes session state from inside (one
// that calls set_config, say) under a plain SELECT: that change outlives
// the lease, as it would in pgxpool.
func statementEffect(sql string) effect {
	var e effect
	for st := range sqlscan.PostgreSQL.Statements(sql) {
		first, second := st.First(), st.Second()
		switch {
		case first.Is("set"):
			if !second.Is("local") && !second.Is("transaction") && !second.Is("constraints") {
				e |= effectSession
			}
		case first.Is("reset"), first.Is("listen"), first.Is("unlisten"), first.Is("load"),
			first.Is("declare"), first.Is("do"), first.Is("call"):
			e |= effectSession
		case first.Is("prepare"):
			if second.Is("transaction") {
				e |= effectSession
			} else {
				e |= effectPrepared
			}
		case first.Is("deallocate"):
			e |= effectPrepared
		case first.Is("discard"):
			e |= effectSession | effectPrepared
		}
		if e&effectSession != 0 {
			continue
		}
		for t := range st.Tokens() {
			if t.Is("temp") || t.Is("temporary") || t.Is("set_config") ||
				t.HasPrefix("pg_advisory_lock") || t.HasPrefix("pg_try_advisory_lock") {
				e |= effectSession
				break
			}
		}
	}
	return e
}
