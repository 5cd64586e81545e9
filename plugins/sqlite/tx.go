package sqlite

import "github.com/nebula-resource/nebula-resource/sdk"

// begin returns the statements that begin a transaction
// (sqldb.Tx.Begin): BEGIN, deferred. SQLite transactions are
// serializable, which satisfies every isolation level; a read-only
// transaction sets PRAGMA query_only until it ends.
func begin(opts sdk.TxOptions) (stmts, undo []string) {
	if opts.ReadOnly {
		return []string{"PRAGMA query_only = ON", "BEGIN"}, []string{"PRAGMA query_only = OFF"}
	}
	return []string{"BEGIN"}, nil
}
