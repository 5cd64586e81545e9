package mongo

import (
	"context"
	"strconv"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// sessionResource is a configured mongo_session resource: one client,
// made when the first session opens, whose sessions are its instances.
type sessionResource struct {
	*Resource
	mu     sync.Mutex
	client *mongo.Client // nil until the first Open
	// transactions is what the server said of multi-document
	// transactions, once asked: "" when they are supported, else why not.
	transactions *string
}

// Open starts a session on the resource's client.
func (r *sessionResource) Open(ctx context.Context) (sdk.Instance, error) {
	client, err := r.sharedClient(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := client.StartSession(options.Session().SetCausalConsistency(true))
	if err != nil {
		return nil, r.wrap(ctx, err, r.typ+" start session")
	}
	s := &Session{owner: r, sess: sess}
	s.store = store{res: r.Resource, db: client.Database(r.cfg.Database), sess: sess}
	return s, nil
}

// sharedClient returns the client of the resource's sessions, connecting
// it the first time.
func (r *sessionResource) sharedClient(ctx context.Context) (*mongo.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return nil, r.closedError()
	}
	if r.client == nil {
		client, err := r.connect(ctx)
		if err != nil {
			return nil, err
		}
		r.client = client
	}
	return r.client, nil
}

// Close disconnects the client; the host has closed the sessions.
func (r *sessionResource) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed.Store(true)
	if r.client != nil {
		disconnect(ctx, r.client)
		r.client = nil
	}
	return nil
}

// noTransactions says why the server has no multi-document transactions,
// or "" when it has them: they need a replica set member or a mongos
// (hello's setName or msg "isdbgrid"), and a server that answers hello
// with logicalSessionTimeoutMinutes.
func (r *sessionResource) noTransactions(ctx context.Context, s *Session) (string, error) {
	r.mu.Lock()
	known := r.transactions
	r.mu.Unlock()
	if known != nil {
		return *known, nil
	}
	var hello struct {
		SetName                      string `bson:"setName"`
		Msg                          string `bson:"msg"`
		LogicalSessionTimeoutMinutes *int64 `bson:"logicalSessionTimeoutMinutes"`
		MaxWireVersion               int32  `bson:"maxWireVersion"`
	}
	if err := s.db.Client().Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return "", r.wrap(ctx, err, r.typ+" start_transaction: hello")
	}
	why := ""
	switch {
	case hello.SetName == "" && hello.Msg != "isdbgrid":
		why = "the server is a standalone: multi-document transactions need a replica set or a sharded cluster"
	case hello.LogicalSessionTimeoutMinutes == nil:
		why = "the server does not support sessions (hello has no logicalSessionTimeoutMinutes), which transactions need"
	case hello.MaxWireVersion < 7:
		why = "the server is older than MongoDB 4.0, the first with multi-document transactions"
	}
	r.mu.Lock()
	r.transactions = &why
	r.mu.Unlock()
	return why, nil
}

// Session is an instance of mongo_session: a session of its own, used by
// one caller at a time.
type Session struct {
	store
	owner *sessionResource
	sess  *mongo.Session
}

// Check pings the server.
func (s *Session) Check(ctx context.Context) error { return s.res.ping(ctx, s.sess.Client()) }

// Close ends the session, aborting a transaction left open.
func (s *Session) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), disconnectTimeout)
	defer cancel()
	if s.sess.TransactionRunning() {
		_ = s.sess.AbortTransaction(ctx)
	}
	s.sess.EndSession(ctx)
	return nil
}

// Reset aborts a transaction the last holder left open, so that the
// next one starts clean.
func (s *Session) Reset(ctx context.Context) error {
	if s.sess.TransactionRunning() {
		return s.wrap(ctx, s.sess.AbortTransaction(ctx), "reset: abort the transaction left open", "")
	}
	return nil
}

// RunCommand runs a database command in the session.
func (s *Session) RunCommand(ctx context.Context, a commandArgs) (commandResult, error) {
	return s.runCommand(ctx, a)
}

// txArgs are the arguments of start_transaction.
type txArgs struct {
	ReadConcern  string `nebula:"read_concern" default:"" doc:"The transaction's read concern: local, majority or snapshot; \"\" for the resource's."`
	WriteConcern string `nebula:"write_concern" default:"" doc:"The transaction's write concern: \"majority\", a number of members such as \"2\", or a tag set's name; \"\" for the resource's."`
}

// Validate checks the concerns.
func (a txArgs) Validate() error {
	switch a.ReadConcern {
	case "", "local", "majority", "snapshot":
	default:
		return sdk.Errorf(sdk.KindInvalidArgument, "read_concern %q: want local, majority or snapshot", a.ReadConcern)
	}
	if n, err := strconv.Atoi(a.WriteConcern); err == nil && n < 0 {
		return sdk.Errorf(sdk.KindInvalidArgument, "write_concern %q: want \"majority\", a number of members (0 or more) or a tag set's name", a.WriteConcern)
	}
	return nil
}

// txResult is the result of the transaction operations.
type txResult struct {
	OK bool `json:"ok"`
}

// StartTransaction starts a transaction, where the server has them.
func (s *Session) StartTransaction(ctx context.Context, a txArgs) (txResult, error) {
	why, err := s.owner.noTransactions(ctx, s)
	if err != nil {
		return txResult{}, err
	}
	if why != "" {
		return txResult{}, sdk.Errorf(sdk.KindFailedPrecondition, "%s start_transaction: %s", s.res.typ, why)
	}
	o := options.Transaction()
	if a.ReadConcern != "" {
		o.SetReadConcern(&readconcern.ReadConcern{Level: a.ReadConcern})
	}
	if a.WriteConcern != "" {
		o.SetWriteConcern(writeConcern(a.WriteConcern))
	}
	if err := s.sess.StartTransaction(o); err != nil {
		return txResult{}, sdk.WrapError(sdk.KindFailedPrecondition, err, s.res.typ+" start_transaction")
	}
	return txResult{OK: true}, nil
}

// CommitTransaction commits the session's transaction.
func (s *Session) CommitTransaction(ctx context.Context, _ struct{}) (txResult, error) {
	if !s.sess.TransactionRunning() {
		return txResult{}, sdk.Errorf(sdk.KindFailedPrecondition, "%s commit_transaction: no transaction is open (start_transaction first)", s.res.typ)
	}
	if err := s.sess.CommitTransaction(ctx); err != nil {
		return txResult{}, s.wrap(ctx, err, "commit_transaction", "")
	}
	return txResult{OK: true}, nil
}

// AbortTransaction aborts the session's transaction.
func (s *Session) AbortTransaction(ctx context.Context, _ struct{}) (txResult, error) {
	if !s.sess.TransactionRunning() {
		return txResult{}, sdk.Errorf(sdk.KindFailedPrecondition, "%s abort_transaction: no transaction is open", s.res.typ)
	}
	if err := s.sess.AbortTransaction(ctx); err != nil {
		return txResult{}, s.wrap(ctx, err, "abort_transaction", "")
	}
	return txResult{OK: true}, nil
}

// Interface guards.
var (
	_ sdk.Resource      = (*sessionResource)(nil)
	_ sdk.Instance      = (*Session)(nil)
	_ sdk.DocumentStore = (*Session)(nil)
	_ sdk.Resetter      = (*Session)(nil)
)
