// Package postgres is the nebula-resource driver for PostgreSQL, built on
// github.com/jackc/pgx/v5.
//
// A resource of type "postgres" is configured with a connection URL (TLS
// follows its sslmode); every instance is one session, one *pgx.Conn,
// opened by Resource.Open and closed by Instance.Close. The type declares
// exclusive pooling and the "sql" capability: an instance implements
// sdk.SQLInstance (Query, Exec, Begin, Commit, Rollback) and sdk.Resetter.
// Its one operation, "ping", runs Check (SELECT 1) and returns {"ok":true}.
//
// # Configuration
//
//	resource "postgres" "main" {
//	  url               = "postgres://app@db:5432/app?sslmode=verify-full"
//	  password          = "..."              # sensitive; overrides the URL's
//	  application_name  = "orders"           # default "nebula-resource"
//	  statement_timeout = "30s"              # optional session setting
//	  connect_timeout   = "10s"              # default 10s
//	}
//
// url and password are sensitive: errors never quote them (pgx's URL
// parse errors are replaced by a fixed message, and any other error text
// has the URL and the password blanked out). An application_name in the URL
// is kept when the application_name attribute is left at its default.
// application_name is sent as a startup parameter; statement_timeout is
// set with SET after connecting and again after each reset.
//
// # Sessions, prepared statements and Reset
//
// Statements with arguments, and every Query, go through pgx's default
// exec mode, QueryExecModeCacheStatement: each distinct SQL text is
// prepared once per session and kept in a per-session LRU cache (512
// statements). Exec without arguments uses the simple protocol and may hold
// several statements separated by semicolons.
//
// A session reports with each answer whether it is still clean: no result
// or transaction open, and no statement since the last reset that may have
// left state in it (SET other than SET LOCAL, RESET, temporary objects,
// cursors, LISTEN, advisory locks outside a transaction, set_config,
// PREPARE, DEALLOCATE, DISCARD, DO and CALL; see statementEffect). The
// host gives a clean session back to its pool with no call at all, so a
// one-shot query costs one round trip and one server transaction, and the
// prepared-statement cache lives as long as the session. A dirty session
// is reset in the background before anyone else gets it, with the least
// that restores it, in one round trip: ROLLBACK when a transaction is
// open; what DISCARD ALL undoes except the prepared statements when
// session state may have changed (and statement_timeout set again); and
// DEALLOCATE ALL with pgx's cache cleared when prepared statements
// changed. A function of the caller's that changes session state from
// inside a plain SELECT is not seen, as in pgxpool.
//
// One statement runs at a time on a session: while a query's rows are
// open, other calls on the instance fail with KindFailedPrecondition.
// Closing rows before the end reads and discards the rest of the result,
// as pgx does; canceling the call's context sends a cancel request to the
// server and stops the query (across the plugin boundary, closing the rows
// early cancels the stream's context, so the query is canceled). A
// canceled statement inside a transaction aborts the transaction.
//
// # Values
//
// Results of the types below are read in binary format and mapped exactly;
// arguments of each kind bind to the corresponding parameter types.
//
//	bool                         bool
//	int2, int4, int8             int
//	float4, float8               float (float4 widened exactly)
//	numeric                      decimal: exact text keeping the scale,
//	                             "NaN", "Infinity", "-Infinity"
//	text, varchar, bpchar, name  text
//	bytea                        bytes (any bytes)
//	date                         date: midnight UTC
//	time                         time: Duration since midnight (µs)
//	timestamp                    timestamp: the wall clock, in UTC
//	timestamptz                  timestamptz: the instant, in UTC
//	interval                     interval: months, days, microseconds
//	uuid                         uuid: 16 bytes
//	json, jsonb                  json: the JSON text
//	arrays of all of the above   array, Elem the element kind; a
//	                             multidimensional array is nested arrays
//
// Infinite dates and timestamps ('infinity', '-infinity') have no time.Time
// and arrive as text values "infinity" / "-infinity". Every other type
// (timetz, money, inet, enums, domains, extension types, ranges, ...) is
// read in text format: its Column.Kind is ValueNull and its values are text
// in PostgreSQL's output syntax. DatabaseType is the type's pg_type name
// ("int4", "_int4" for int4[], "timetz") for built-in types; types created
// in the database (enums, domains, extension types such as citext) are not
// looked up, to spare a catalog round trip per query, and show as
// "oid:<n>".
//
// Arguments: bool, int, float and text bind as Go values, so the server's
// inferred parameter type decides the conversion; the other kinds bind
// with pgx's pgtype values. A decimal is parsed exactly (never through
// float64). A timestamp binds its wall clock (its zone is ignored); a time
// must lie within 00:00 to 24:00; a uuid must be 16 bytes. An array must
// have one element kind and, when nested, be rectangular; bind it to a
// parameter of an array type (write $1::int8[] where the server cannot
// infer one). An argument that cannot be bound is KindInvalidArgument.
//
// # Errors
//
// Server errors keep their SQLSTATE in sdk.Error.Code. unique_violation
// 23505, foreign_key_violation 23503 and exclusion_violation 23P01 are
// KindConflict; serialization_failure 40001, deadlock_detected 40P01 and
// lock_not_available 55P03 are KindConflict marked retryable; syntax
// errors, undefined tables and columns (class 42) and data exceptions
// (class 22) are KindInvalidArgument; 42501 is KindPermissionDenied;
// class 28 is KindUnauthenticated; 57014 (statement_timeout) is
// KindTimeout; class 08, 57P01 admin_shutdown and other lost connections
// (network and I/O errors, a closed connection) are KindUnavailable; class
// 53 is KindResourceExhausted; 25P02 (a failed transaction) is
// KindFailedPrecondition. A canceled or expired context gives KindCanceled
// or KindTimeout. Begin with a transaction open, and Commit or Rollback
// without one, are KindFailedPrecondition; so is a Commit of a failed
// transaction, which PostgreSQL rolls back (Code 25P02).
//
// ExecResult carries RowsAffected; PostgreSQL has no last insert id (use
// RETURNING), so HasLastInsertID is always false.
package postgres
