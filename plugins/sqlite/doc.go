// Package sqlite is the nebula-resource driver for SQLite, built on
// modernc.org/sqlite (pure Go, database/sql driver name "sqlite").
//
// A resource of type "sqlite" is one database: a file (path) or, with path
// ":memory:", an in-memory database. Pooling is exclusive: every instance
// is one SQLite connection (a database/sql handle limited to one
// connection, whose connection the instance holds), opened by
// Resource.Open and closed by the instance's Close. The instance is a
// *sqldb.Session (sdk/sqldb, the database/sql layer the SQL drivers
// share); the driver gives it its connect, its error map, its value
// conversions and what undoes a connection's state. The plugin binary is
// cmd/nebula-plugin-sqlite:
//
//	func main() { sdk.Serve(sqlite.New(), otelexport.Option()) }
//
// # Configuration
//
//	resource "sqlite" "app" {
//	  path         = "/var/lib/app/app.db" # or ":memory:"
//	  busy_timeout = "5s"                  # PRAGMA busy_timeout
//	  journal_mode = "wal"                 # PRAGMA journal_mode (files only)
//	  foreign_keys = true                  # PRAGMA foreign_keys
//	}
//
// The pragmas are _pragma parameters of the connection's URI, so SQLite
// applies them to every new connection, busy_timeout first. A relative
// path is made absolute against the plugin's working directory when the
// resource is configured; the file is created if missing, its directory is
// not.
//
// For ":memory:" the instances must see one database, so the resource opens
// the shared-cache database file:nebula-<name>-<random>?mode=memory&cache=shared
// (the random suffix makes it unique to one Configure call, so two
// resources never share data) and keeps one extra connection to it open
// until Resource.Close; the data lives as long as the resource, even while
// no instance is open. Shared-cache databases lock whole tables, not the
// file: a statement that needs a table another connection's open
// transaction has locked waits for it (or fails as SQLITE_LOCKED on a
// deadlock); journal_mode is ignored.
//
// # Types
//
// SQLite is dynamically typed: a column's declared type only gives it an
// affinity, and any column may hold a value of any storage class (NULL,
// INTEGER, REAL, TEXT, BLOB). Columns report DatabaseType as SQLite gives
// the declared type (upper case, "" for expressions), and a Kind from that
// name: first these names (ignoring a "(n,m)" suffix),
//
//	BOOL, BOOLEAN                         bool      INTEGER 0/1
//	DATE                                  date      TEXT 2006-01-02
//	TIME                                  time      TEXT 15:04:05[.fraction]
//	DATETIME, TIMESTAMP                   timestamp TEXT RFC 3339, UTC, 9 fraction digits
//	TIMESTAMPTZ, TIMESTAMP WITH TIME ZONE timestamptz TEXT RFC 3339 with the offset
//	UUID                                  uuid      BLOB of 16 bytes
//	JSON                                  json      TEXT
//	DECIMAL..., NUMERIC...                decimal   TEXT (see below)
//
// then SQLite's affinity rules: a name containing INT is int; CHAR, CLOB or
// TEXT is text; BLOB is bytes; REAL, FLOA or DOUB is float. A column with
// no declared type (an expression, a typeless column) or another name
// (NUMERIC affinity, such as MONEY) has Kind null, and each of its values
// takes the kind of its storage class: INTEGER int, REAL float, TEXT text,
// BLOB bytes.
//
// A value that does not fit its column's kind keeps the kind of its
// storage class too: 'abc' in an INTEGER column reads as text. Reading is
// lenient where it can be exact: an INTEGER in a REAL column is a float, an
// INTEGER or REAL in a decimal column is the decimal text of that number,
// TEXT in a BLOB column is bytes, a UUID column also reads the 36-character
// text form, and date and timestamp columns also read SQLite's own forms
// ("2006-01-02 15:04:05", with or without fraction and offset). A
// timestamp column reads a text with an offset as that instant in UTC.
//
// Arguments bind as follows: null NULL; bool INTEGER 1 or 0; int INTEGER;
// float REAL; decimal TEXT (it must be a decimal literal); text TEXT; bytes
// BLOB (empty bytes are an empty BLOB, not NULL); date TEXT "2006-01-02";
// time TEXT "15:04:05.999999999" (fraction trimmed, [0, 24h)); timestamp
// TEXT "2006-01-02T15:04:05.000000000Z" (UTC, exactly nine fraction digits,
// so that timestamps sort as text; time.RFC3339Nano parses it); timestamptz
// the same layout with its own offset, for example
// "2026-11-27T21:00:00.123456000+05:30" (texts with different offsets do not
// sort by instant; store UTC if that matters); uuid a 16-byte BLOB; json
// TEXT (it must be valid JSON). Interval and array arguments, which SQLite
// has no type for, fail with kind invalid_argument, as do years outside
// 0000-9999.
//
// Decimal precision: a column declared DECIMAL or NUMERIC has NUMERIC
// affinity, so SQLite converts a TEXT that looks like a number to INTEGER or
// REAL and keeps only about 15 significant digits of a REAL. To keep every
// digit, declare the column "DECIMAL TEXT" (or "NUMERIC TEXT"): the name
// still reads as decimal, and the TEXT in it gives the column TEXT
// affinity, so the text is stored as given. Likewise a JSON column has
// NUMERIC affinity: the JSON text 1.50 is stored as the REAL 1.5 and reads
// back as 1.5.
//
// # Transactions
//
// Begin runs BEGIN (deferred) on the instance's connection. SQLite
// transactions are serializable, which satisfies every isolation level, so
// all levels are accepted; a read-only transaction sets PRAGMA query_only
// until Commit or Rollback. Begin while a transaction is open, and Commit
// or Rollback without one, fail with kind failed_precondition. Prefer
// these methods to BEGIN and COMMIT statements.
//
// An instance reports with each answer whether its connection is still
// clean: no rows or transaction open, and no statement since the last
// reset that may have left state on it, as read with sdk/sqlscan: BEGIN
// or SAVEPOINT; a PRAGMA that sets something (PRAGMA name = value, or
// name(value) except for the pragmas that read, such as table_info and
// integrity_check); ATTACH and DETACH; and TEMP tables, views and
// triggers (any TEMP or TEMPORARY word). The host gives a clean instance
// back to its pool with no call at all, and its prepared statements live
// on. A dirty one is reset before anyone else gets it: ROLLBACK (and
// query_only off after a read-only transaction) on the same connection
// when only a transaction may be open; otherwise a new connection, which
// applies the configured pragmas and holds nothing of the old one. Pragmas
// that change the database rather than the connection (journal_mode,
// user_version, and for ":memory:" the shared cache's cache_size) are
// the database's and stay.
//
// # Results
//
// Query streams rows from SQLite's cursor, one at a time. Exec reports
// RowsAffected (sqlite3_changes) and LastInsertID (sqlite3_last_insert_rowid,
// so HasLastInsertID is always true; after a statement that inserted
// nothing it is the connection's last rowid). Exec runs every statement of
// a semicolon-separated script, so it is not cached; Query statements are
// prepared once per session and kept (the last 64, sdk/stmtcache).
//
// # Errors
//
// SQLite errors become *sdk.Error values whose Code is the name of the
// extended result code, for example "SQLITE_CONSTRAINT_UNIQUE" (or its
// number when it has no name here):
//
//	SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY, _ROWID, _FOREIGNKEY,
//	  and other constraints                   conflict
//	SQLITE_CONSTRAINT_NOTNULL, _CHECK, _DATATYPE invalid_argument
//	SQLITE_BUSY, SQLITE_LOCKED                unavailable, retryable
//	SQLITE_ERROR (syntax, no such table or column), RANGE, MISMATCH, TOOBIG
//	                                          invalid_argument
//	SQLITE_READONLY (query_only), NOTADB      failed_precondition
//	SQLITE_IOERR, CANTOPEN                    unavailable
//	SQLITE_FULL, NOMEM                        resource_exhausted
//	SQLITE_PERM, AUTH                         permission_denied
//	SQLITE_INTERRUPT                          canceled
//
// An error after the call's context ended has the kind of the context's
// error (canceled or timeout), and a closed connection is unavailable.
//
// # Operations
//
// The type has one operation of its own, "ping" (idempotent, no
// arguments), which runs SELECT 1 and returns {"ok": true}; the host
// answers the sql capability's "query" and "exec" through the instance.
package sqlite
