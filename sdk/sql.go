package sdk

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// CapabilitySQL is the capability of resource types whose instances
// implement SQLInstance.
const CapabilitySQL = "sql"

// SQLOperations are the operations of CapabilitySQL: the host answers
// them, with JSON in and out (for nebula-host call and the admin
// endpoint), through the instance's SQLInstance. A Go program uses the
// host's Lease.Query and Lease.Exec instead, which stream rows and keep
// values typed.
func SQLOperations() []Operation {
	return []Operation{
		{
			Name:        "query",
			Description: "Run a statement and return its rows as JSON (at most max_rows; use the Go API for large results).",
			Args: Schema{Attributes: []Attribute{
				{Name: "sql", Type: String, Required: true, Description: "The statement, with the backend's placeholders ($1 or ?)."},
				{Name: "args", Type: ListOf(JSON), Description: "Positional arguments: JSON values of any type."},
				{Name: "max_rows", Type: Int, Default: json.RawMessage("1000"), Description: "Stop after this many rows and say truncated."},
			}},
		},
		{
			Name:        "exec",
			Description: "Run a statement that returns no rows; returns rows_affected and, where the backend has one, last_insert_id.",
			Args: Schema{Attributes: []Attribute{
				{Name: "sql", Type: String, Required: true, Description: "The statement."},
				{Name: "args", Type: ListOf(JSON), Description: "Positional arguments: JSON values of any type."},
			}},
		},
	}
}

// SQLInstance is implemented by the instances of resource types with the
// "sql" capability: a database session that runs statements with typed
// values, streams query results, and holds a transaction across calls.
// Such types should declare exclusive pooling, so that a transaction stays
// with the one lease that began it.
type SQLInstance interface {
	// Query runs a statement that returns rows. The rows are read one at
	// a time, so a large result never sits whole in memory.
	Query(ctx context.Context, stmt Statement) (Rows, error)
	// Exec runs a statement that returns no rows.
	Exec(ctx context.Context, stmt Statement) (ExecResult, error)
	// Begin starts a transaction on the session; the statements that
	// follow run in it until Commit or Rollback.
	Begin(ctx context.Context, opts TxOptions) error
	// Commit commits the open transaction.
	Commit(ctx context.Context) error
	// Rollback rolls the open transaction back.
	Rollback(ctx context.Context) error
}

// WithSQLOperations returns t with the operations of SQLOperations that
// it does not describe itself, when it has CapabilitySQL; t otherwise.
func (t ResourceType) WithSQLOperations() ResourceType {
	if !slices.Contains(t.Capabilities, CapabilitySQL) {
		return t
	}
	ops := slices.Clone(t.Operations)
	for _, op := range SQLOperations() {
		if _, ok := t.Operation(op.Name); !ok {
			ops = append(ops, op)
		}
	}
	t.Operations = ops
	return t
}

// Batcher is implemented by SQL instances that can send several statements
// to the backend in one round trip (PostgreSQL's pipeline, say). The
// statements run in order and the first error stops the batch; the error
// names the statement that failed (see BatchError). Run a batch in a
// transaction to make it all or nothing. Without Batcher, the SDK runs a
// batch as one Exec after another, still in one call from the host.
type Batcher interface {
	Batch(ctx context.Context, stmts []Statement) ([]ExecResult, error)
}

// Statement is SQL text with positional arguments.
type Statement struct {
	SQL  string
	Args []Value
}

// ExecResult is what a statement without rows reports.
type ExecResult struct {
	RowsAffected int64
	// LastInsertID is the id the backend assigned, where it has one
	// (MySQL, SQLite); HasLastInsertID says whether it does.
	LastInsertID    int64
	HasLastInsertID bool
}

// IsolationLevel is a transaction's isolation level. The zero value is the
// backend's default.
type IsolationLevel string

// The isolation levels.
const (
	IsolationDefault         IsolationLevel = ""
	IsolationReadUncommitted IsolationLevel = "read_uncommitted"
	IsolationReadCommitted   IsolationLevel = "read_committed"
	IsolationRepeatableRead  IsolationLevel = "repeatable_read"
	IsolationSerializable    IsolationLevel = "serializable"
)

// TxOptions configures Begin.
type TxOptions struct {
	Isolation IsolationLevel
	ReadOnly  bool
}

// Column describes one column of a query's result.
type Column struct {
	Name string
	// Kind is the kind of the column's values (KindNull when the driver
	// cannot tell before it sees a value).
	Kind ValueKind
	// DatabaseType is the backend's own name for the type, such as
	// "numeric" or "timestamptz".
	DatabaseType string
}

// Rows is the result of a query, read row by row:
//
//	for rows.Next() {
//		vals := rows.Values()
//	}
//	if err := rows.Err(); err != nil { ... }
//
// Close releases it; reading every row closes it too.
type Rows interface {
	Columns() []Column
	// Next moves to the next row and reports whether there is one.
	Next() bool
	// Values returns the current row. The slice is valid until Next.
	Values() []Value
	// Err returns the error that ended the rows, if any.
	Err() error
	Close() error
}

// ValueKind is the type of a Value.
type ValueKind string

// The kinds of value. Each names the Value field that holds it.
const (
	ValueNull        ValueKind = "null"
	ValueBool        ValueKind = "bool"        // Bool
	ValueInt         ValueKind = "int"         // Int
	ValueFloat       ValueKind = "float"       // Float
	ValueDecimal     ValueKind = "decimal"     // Text: the exact decimal, "-12.3400"
	ValueText        ValueKind = "text"        // Text
	ValueBytes       ValueKind = "bytes"       // Bytes
	ValueDate        ValueKind = "date"        // Time: midnight UTC of the date
	ValueTime        ValueKind = "time"        // Duration: time of day since midnight
	ValueTimestamp   ValueKind = "timestamp"   // Time in UTC: the wall clock, no zone
	ValueTimestampTZ ValueKind = "timestamptz" // Time: an instant, with its offset
	ValueInterval    ValueKind = "interval"    // Interval
	ValueUUID        ValueKind = "uuid"        // Bytes: 16 bytes
	ValueJSON        ValueKind = "json"        // Bytes: the JSON text
	ValueArray       ValueKind = "array"       // Array; Elem names the element kind
)

// Interval is a span of calendar time, as PostgreSQL keeps it: months and
// days do not have a fixed length.
type Interval struct {
	Months       int32
	Days         int32
	Microseconds int64
}

// Value is one typed SQL value. Kind says which field holds it.
type Value struct {
	Kind     ValueKind
	Bool     bool
	Int      int64
	Float    float64
	Text     string
	Bytes    []byte
	Time     time.Time
	Duration time.Duration
	Interval Interval
	Array    []Value
	// Elem is the element kind of an array.
	Elem ValueKind
}

// Null is the SQL NULL.
var Null = Value{Kind: ValueNull}

// IsNull reports whether v is NULL. The zero Value is NULL too.
func (v Value) IsNull() bool { return v.Kind == ValueNull || v.Kind == "" }
