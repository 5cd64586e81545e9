// Package mysql is the nebula-resource driver for MySQL and MariaDB, built
// on github.com/go-sql-driver/mysql. It is tested against MariaDB 10.11.
//
// A resource of type "mysql" is a database; every instance opened from it
// is one backend session: one *sql.Conn taken from a *sql.DB of its own
// (sql.OpenDB over a mysql.Connector, at most one open connection) and kept
// until the instance's Close, which closes the connection and its DB. The
// instance is a *sqldb.Session (sdk/sqldb, the database/sql layer the SQL
// drivers share); the driver gives it its connect, its error map, its
// value conversions and what undoes a session's state. The type pools
// exclusively, so a transaction stays with the lease that began it.
//
// # Configuration
//
//   - dsn (required, sensitive): a go-sql-driver DSN such as
//     root@tcp(127.0.0.1:3306)/test. It may hold a password.
//   - password (sensitive): overrides the DSN's password.
//   - connect_timeout (default 10s): bounds dialing and the handshake.
//
// The driver always sets parseTime=true, interpolateParams=false and
// loc=UTC, and sets the session's time_zone to '+00:00' (unless the DSN sets
// time_zone itself), so that TIMESTAMP values travel as UTC instants.
// Other DSN parameters that name system variables are applied at connect
// and again by a reset after variables were set.
//
// # Values
//
// Result columns are typed from the protocol's column metadata
// (rows.ColumnTypes); Column.DatabaseType is go-sql-driver's type name
// ("DECIMAL", "UNSIGNED BIGINT", "VARBINARY", ...):
//
//	TINYINT SMALLINT MEDIUMINT INT BIGINT YEAR (signed or not) -> int
//	    (an UNSIGNED BIGINT above 2^63-1 arrives as decimal text)
//	FLOAT DOUBLE                                 -> float
//	DECIMAL                                      -> decimal, exact text (never via float64)
//	CHAR VARCHAR *TEXT ENUM SET                  -> text
//	BINARY VARBINARY *BLOB BIT GEOMETRY VECTOR   -> bytes
//	DATE                                         -> date (midnight UTC)
//	TIME                                         -> time (Duration; may be negative or over 24h)
//	DATETIME                                     -> timestamp (the wall clock, in UTC)
//	TIMESTAMP                                    -> timestamptz (the instant, in UTC)
//	JSON                                         -> json (MySQL 5.7+)
//	NULL                                         -> null
//
// MariaDB has no JSON column type on the wire: JSON is an alias of LONGTEXT
// with a json_valid check, and go-sql-driver does not request MariaDB's
// extended metadata, so MariaDB JSON columns come back as text (kind text,
// DatabaseType "TEXT") holding the same JSON. MySQL has no boolean type:
// BOOLEAN is TINYINT(1), so a bool comes back as int 0 or 1. Columns of a
// type the driver does not know have kind null; their values are text when
// they are valid UTF-8 and bytes otherwise.
//
// Arguments bind as follows: null, bool (as 1/0), int, float, text and bytes
// natively; decimal as its exact text; date as 'YYYY-MM-DD'; time as
// '[-]HH:MM:SS.ffffff'; timestamp as its wall clock; timestamptz as the
// instant converted to UTC (the session's time zone), so the offset is not
// kept: it reads back as the same instant in UTC; json as its text; uuid as
// its canonical 36-character text (which MariaDB's UUID type and CHAR(36)
// accept; use UNHEX(REPLACE(?,'-',”)) for BINARY(16)). MySQL has no
// interval or array types: such arguments fail with invalid_argument.
//
// # Statements, transactions and errors
//
// A statement without arguments runs as a plain query (text protocol). One
// with arguments is a server-side prepared statement (binary protocol);
// go-sql-driver does not cache them, so the instance keeps the last 64 it
// prepared, keyed by SQL text, for the life of the session.
//
// Begin, Commit and Rollback issue SET TRANSACTION ISOLATION LEVEL, START
// TRANSACTION [READ ONLY], COMMIT and ROLLBACK on the session.
//
// # Sessions and Reset
//
// A session reports with each answer whether it is still clean: no
// transaction begun, and no statement since the last reset that may have
// left state in it. The statements are read with sdk/sqlscan (comments,
// strings, backticks, executable /*! */ comments, by the session's
// sql_mode), and these count: a transaction opened (BEGIN, START
// TRANSACTION, autocommit set) or the next one's characteristics set (SET
// TRANSACTION, which ROLLBACK clears); session and user variables set
// (SET, SET NAMES, SELECT ... INTO @v, @v := ...); LOCK TABLES and FLUSH
// ... WITH READ LOCK; GET_LOCK; USE; and, undone by a new connection,
// temporary tables, SQL prepared statements (PREPARE, EXECUTE, DEALLOCATE),
// HANDLER, XA, CALL, SET ROLE, LOCK INSTANCE, BACKUP and BEGIN NOT ATOMIC.
// SET GLOBAL, SET STATEMENT ... FOR (read as the statement after FOR) and
// DO (which, like SELECT, only evaluates expressions) leave the session
// clean. A stored function of the caller's that changes session state from
// inside a SELECT or DO is not seen.
//
// The host gives a clean session back to its pool with no call at all, so
// a one-shot query costs one round trip and the prepared statements live
// as long as the session. A dirty session is reset in the background with
// what it needs, a round trip each: ROLLBACK; UNLOCK TABLES; DO
// RELEASE_ALL_LOCKS() (MySQL 5.7, MariaDB 10.5.2); USE of the DSN's
// database; and one SET that puts each system variable set back to
// DEFAULT, each user variable set to NULL, and then the settings the
// session started with (autocommit=1, sql_mode, isolation level and
// access mode, the character sets of the connection) and the DSN's
// parameters. State that only a new connection clears gets one (and a
// fresh prepared-statement cache). go-sql-driver has no way to send
// COM_RESET_CONNECTION on a held connection, which would do it all in one
// round trip. LAST_INSERT_ID() and FOUND_ROWS() are not reset.
//
// Errors keep the MySQL error number as Code: 1062 (duplicate key), 1451
// and 1452 (foreign keys) are conflicts; 1213 (deadlock) and 1205 (lock
// wait timeout) are retryable conflicts; 1064 (syntax), 1146 (no table) and
// 1054 (no column) are invalid arguments; a broken or killed connection is
// unavailable. Canceling a call's context while it runs closes the session's
// connection (go-sql-driver's cancellation), after which the instance is
// unavailable and the host replaces it (Reset fails). The same happens when
// a caller closes the rows of a large result before reading them all, as
// that cancels the query while rows are still on the wire; a result that
// the plugin had finished sending is unaffected.
package mysql
