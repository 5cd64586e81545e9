package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sqldb"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "sqlite"

// MemoryPath is the path that selects an in-memory database shared by the
// instances of the resource.
const MemoryPath = ":memory:"

// Config is the configuration of a sqlite resource.
type Config struct {
	// Path is the database file, or ":memory:".
	Path string `nebula:"path,required" doc:"Path of the database file (created if missing), or \":memory:\" for an in-memory database shared by the resource's instances."`
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection before failing with SQLITE_BUSY.
	BusyTimeout time.Duration `nebula:"busy_timeout" default:"5s" doc:"How long a statement waits for a lock held by another connection before failing as busy (PRAGMA busy_timeout)."`
	// JournalMode is the journal mode of a database file.
	JournalMode string `nebula:"journal_mode" default:"wal" doc:"Journal mode of the database file: delete, truncate, persist, memory, wal or off (PRAGMA journal_mode). Ignored for \":memory:\"."`
	// ForeignKeys enforces foreign key constraints.
	ForeignKeys bool `nebula:"foreign_keys" default:"true" doc:"Whether foreign key constraints are enforced (PRAGMA foreign_keys)."`
}

var journalModes = map[string]bool{"delete": true, "truncate": true, "persist": true, "memory": true, "wal": true, "off": true}

// Validate checks the path, busy_timeout and journal_mode.
func (c Config) Validate() error {
	var errs []error
	switch {
	case strings.TrimSpace(c.Path) == "":
		errs = append(errs, sdk.AttributeError("path", "must not be empty",
			`Set the path of the database file, or ":memory:" for an in-memory database.`))
	case strings.HasPrefix(c.Path, "file:"):
		errs = append(errs, sdk.AttributeError("path", "must be a file path, not a URI",
			`Give the path of the database file, such as "/var/lib/app/app.db", or ":memory:".`))
	case strings.ContainsRune(c.Path, 0):
		errs = append(errs, sdk.AttributeError("path", "must not contain a NUL byte", "Give a valid file path."))
	}
	if c.BusyTimeout < 0 {
		errs = append(errs, sdk.AttributeError("busy_timeout", "must not be negative",
			`Set a duration such as "5s", or "0s" to fail at once when the database is locked.`))
	}
	if !journalModes[strings.ToLower(c.JournalMode)] {
		errs = append(errs, sdk.AttributeError("journal_mode", "unknown journal mode "+strconv.Quote(c.JournalMode),
			"Use one of delete, truncate, persist, memory, wal or off."))
	}
	return errors.Join(errs...)
}

// New returns the sqlite driver.
func New() sdk.Driver { return sdk.NewDriver("sqlite", release.Version(), sqliteType) }

// sqliteType is the driver's one resource type, "sqlite".
var sqliteType = sdk.ResourceDef[Config, *sqldb.Session]{
	Name:         TypeName,
	Description:  "A SQLite database (a file, or an in-memory database shared by the resource's instances); each instance is one connection.",
	Capabilities: []string{sdk.CapabilitySQL},
	Pooling:      sdk.PoolingExclusive,
	Configure:    configure,
	Operations: []sdk.Op[*sqldb.Session]{
		sdk.PingOp[*sqldb.Session]("Runs a trivial query on the connection and returns {\"ok\": true}."),
	},
}

// Configure checks the configuration and builds the data source name. For
// ":memory:" it also opens the connection that keeps the shared in-memory
// database alive until the resource is closed.
func configure(ctx context.Context, name string, cfg Config) (sdk.Resource, error) {
	r := &Resource{name: name, cfg: cfg}
	r.backend = sqldb.Backend{
		Name:    "sqlite",
		Connect: r.connect,
		Errors:  errorMap,
		Values:  sqldb.Values{Bind: bind, Kind: columnKind, Convert: convert},
		Tx:      sqldb.Tx{Begin: begin, Open: isNestedTx, None: isNoTx, FailedEndKeepsTx: true},
		// Exec runs every statement of a semicolon-separated script,
		// which cannot be prepared as one.
		Query: sqldb.PrepareAlways,
		Exec:  sqldb.PrepareNever,
	}
	if cfg.Path == MemoryPath {
		r.dsn = memoryDSN(name, cfg)
		keeper, conn, err := openConn(ctx, r.dsn)
		if err != nil {
			return nil, mapError(ctx, err, "opening the in-memory database of sqlite resource "+name)
		}
		r.keeper, r.keeperConn = keeper, conn
		return r, nil
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, err, "resolving the path of sqlite resource "+name)
	}
	r.dsn = fileDSN(abs, cfg)
	return r, nil
}

// pragmas are the _pragma DSN parameters applied to every new connection,
// busy_timeout first so that the others wait for locks.
func pragmas(cfg Config, file bool) []string {
	fk := "0"
	if cfg.ForeignKeys {
		fk = "1"
	}
	p := []string{
		"busy_timeout(" + strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10) + ")",
		"foreign_keys(" + fk + ")",
	}
	if file {
		p = append(p, "journal_mode("+strings.ToUpper(cfg.JournalMode)+")")
	}
	return p
}

func encodePragmas(ps []string) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = "_pragma=" + url.QueryEscape(p)
	}
	return strings.Join(parts, "&")
}

// fileDSN is a SQLite URI for the file at the absolute path abs.
func fileDSN(abs string, cfg Config) string {
	u := url.URL{Path: filepath.ToSlash(abs)}
	return "file:" + u.EscapedPath() + "?mode=rwc&" + encodePragmas(pragmas(cfg, true))
}

// memoryDSN names a shared-cache in-memory database unique to one
// Configure call: the resource name (for debugging) and a random suffix,
// so that two resources, or a resource configured again, never share one.
func memoryDSN(name string, cfg Config) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
	return "file:nebula-" + safe + "-" + hex.EncodeToString(b[:]) + "?mode=memory&cache=shared&" + encodePragmas(pragmas(cfg, false))
}

// openConn opens a database handle limited to one connection and takes
// that connection.
func openConn(ctx context.Context, dsn string) (*sql.DB, *sql.Conn, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, nil, err
	}
	conn, err := sqldb.TakeConn(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	return db, conn, nil
}

// Resource is one configured SQLite database.
type Resource struct {
	name string
	cfg  Config
	dsn  string
	// keeper and keeperConn hold a ":memory:" database open while the
	// resource lives; nil for files.
	keeper     *sql.DB
	keeperConn *sql.Conn
	// backend is what sdk/sqldb needs to run the resource's sessions.
	backend sqldb.Backend

	mu     sync.Mutex
	closed bool
}

// Open opens one connection to the database: the instance, a
// *sqldb.Session, leased to one caller at a time (exclusive pooling).
func (r *Resource) Open(ctx context.Context) (sdk.Instance, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, sdk.Errorf(sdk.KindUnavailable, "sqlite resource %q is closed", r.name)
	}
	s, err := sqldb.Open(ctx, &r.backend)
	if err != nil {
		return nil, err // not a nil *sqldb.Session in a non-nil sdk.Instance
	}
	return s, nil
}

// connect opens a connection of a session (sqldb.Backend.Connect), which
// applies the configured pragmas.
func (r *Resource) connect(ctx context.Context) (sqldb.Conn, error) {
	db, conn, err := openConn(ctx, r.dsn)
	if err != nil {
		err = mapError(ctx, err, "opening a connection of sqlite resource "+r.name)
		var se *sdk.Error
		if errors.As(err, &se) && se.Code == "SQLITE_CANTOPEN" {
			// The resource's own database file cannot be opened (its
			// volume not mounted yet, say): the backend is not there.
			se.Kind = sdk.KindUnavailable
		}
		return sqldb.Conn{}, err
	}
	return sqldb.Conn{DB: db, Conn: conn, Tracker: new(effect)}, nil
}

// Close releases the connection that keeps a ":memory:" database alive;
// the database disappears with it. Close is safe to call more than once.
func (r *Resource) Close(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	if r.keeperConn != nil {
		errs = append(errs, r.keeperConn.Close())
	}
	if r.keeper != nil {
		errs = append(errs, r.keeper.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return sdk.WrapError(sdk.KindInternal, err, "closing sqlite resource "+r.name)
	}
	return nil
}

// Interface guards.
var _ sdk.Resource = (*Resource)(nil)
