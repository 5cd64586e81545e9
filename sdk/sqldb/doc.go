// Package sqldb is the database/sql layer that SQL drivers share: a
// [Session] is one connection held by one instance of an exclusively
// pooled resource type, and it runs the calls of [sdk.SQLInstance] on it
// (plain or prepared statements, transactions begun and ended, results
// streamed row by row into the SDK's values), reports whether the session
// is clean ([sdk.SessionReporter]) and resets it ([sdk.Resetter]). The
// MySQL and SQLite drivers are built on it; a third-party driver for any
// database/sql driver can be too.
//
// A driver configures a [Backend] with what only it knows, and keeps the
// rest here:
//
//   - Connect opens one connection (a *sql.DB limited to it, see
//     [TakeConn]) and the [Tracker] that reads what its statements leave
//     in the session;
//   - Errors is its client's [sdk.ErrorMap];
//   - Values converts values both ways where its client differs from
//     database/sql's plain types ([Bind] and [Dynamic] are the defaults);
//   - Tx says how it begins transactions and what its server answers to a
//     COMMIT without one;
//   - Query and Exec say which calls run as cached prepared statements.
//
// Its instances are then the sessions themselves:
//
//	var dbType = sdk.ResourceDef[Config, *sqldb.Session]{
//		Capabilities: []string{sdk.CapabilitySQL},
//		Pooling:      sdk.PoolingExclusive, // a transaction stays with its lease
//		...
//	}
//
//	func (r *Resource) Open(ctx context.Context) (sdk.Instance, error) {
//		s, err := sqldb.Open(ctx, &r.backend) // backend.Connect: r.connect
//		if err != nil {
//			return nil, err
//		}
//		return s, nil
//	}
//
// # Sessions
//
// The session's lock guards its bookkeeping only, never a call to the
// client, so that Close and Reset can end rows still streaming from
// another goroutine; database/sql serializes the calls on the connection
// itself. Every call first checks its context and whether the session is
// closed ([ErrClosed]), so that a call the caller gave up on never reaches
// a client that would close the connection to cancel it.
//
// A session is clean when no transaction begun with Begin is open, no
// rows are open and its Tracker saw nothing left in the session. Reset
// closes the open rows, checks that the connection is not broken, and
// then runs the statements the Tracker says undo
// what was left (and those that undo what Begin set beyond the
// transaction), or opens a new connection when only that clears it. A
// new connection costs a fresh cache of prepared statements; the others
// keep theirs, which is why the host resets only a session that is not
// clean.
package sqldb
