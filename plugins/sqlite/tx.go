package sqlite

import (
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sqldb"
)

// Instance is one connection to the database, run by sdk/sqldb. The host
// leases it to one caller at a time (exclusive pooling); its methods are
// nonetheless safe to call concurrently, as rows may still be streaming
// when the next call arrives.
type Instance struct{ *sqldb.Session }

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

// Interface guards.
var (
	_ sdk.Instance    = (*Instance)(nil)
	_ sdk.SQLInstance = (*Instance)(nil)
	_ sdk.Resetter    = (*Instance)(nil)

	_ sdk.SessionReporter = (*Instance)(nil)
	_ sqldb.Tracker       = (*effect)(nil)
)
