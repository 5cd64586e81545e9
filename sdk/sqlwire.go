package sdk

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"

	"github.com/nebula-resource/nebula-resource/sdk/internal/mux"
	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// The SQL data path over gRPC: converters, the plugin-side service, and
// the host-side SQLInstance of remoteInstance.

// rowBatch bounds the rows of one streamed message.
const (
	rowBatchRows  = 256
	rowBatchBytes = 256 << 10
)

func valueToProto(v Value) *pb.SQLValue {
	out := &pb.SQLValue{Kind: string(v.Kind)}
	switch v.Kind {
	case ValueBool:
		out.Bool = v.Bool
	case ValueInt:
		out.Int = v.Int
	case ValueFloat:
		out.Float = v.Float
	case ValueDecimal, ValueText:
		if utf8.ValidString(v.Text) {
			out.Text = v.Text
		} else {
			// A protobuf string must be UTF-8, and one that is not fails
			// the whole message: text a database holds in another
			// encoding (SQLite does not check) travels as bytes.
			out.Bytes = []byte(v.Text)
		}
	case ValueBytes, ValueUUID, ValueJSON:
		out.Bytes = v.Bytes
	case ValueDate, ValueTimestamp, ValueTimestampTZ:
		out.Seconds = v.Time.Unix()
		out.Nanos = int32(v.Time.Nanosecond())
		if v.Kind == ValueTimestampTZ {
			_, off := v.Time.Zone()
			out.OffsetSeconds = int32(off)
		}
	case ValueTime:
		out.DurationNanos = int64(v.Duration)
	case ValueInterval:
		out.Months, out.Days, out.Microseconds = v.Interval.Months, v.Interval.Days, v.Interval.Microseconds
	case ValueArray:
		out.Elem = string(v.Elem)
		out.Array = make([]*pb.SQLValue, len(v.Array))
		for i, e := range v.Array {
			out.Array[i] = valueToProto(e)
		}
	case "":
		out.Kind = string(ValueNull)
	}
	return out
}

func valueFromProto(p *pb.SQLValue) Value {
	parts := valueParts{
		kind: ValueKind(p.GetKind()), boolean: p.GetBool(), integer: p.GetInt(), float: p.GetFloat(),
		text: p.GetText(), bytes: p.GetBytes(), seconds: p.GetSeconds(), nanos: p.GetNanos(),
		offset: p.GetOffsetSeconds(), durationNanos: p.GetDurationNanos(), months: p.GetMonths(),
		days: p.GetDays(), microseconds: p.GetMicroseconds(), elem: ValueKind(p.GetElem()),
	}
	if p.GetKind() == string(ValueArray) {
		parts.array = make([]Value, len(p.GetArray()))
		for i, e := range p.GetArray() {
			parts.array[i] = valueFromProto(e)
		}
	}
	return parts.value()
}

func statementToProto(s Statement) *pb.SQLStatement {
	out := &pb.SQLStatement{Sql: s.SQL, Args: make([]*pb.SQLValue, len(s.Args))}
	for i, a := range s.Args {
		out.Args[i] = valueToProto(a)
	}
	return out
}

func statementFromProto(p *pb.SQLStatement) Statement {
	s := Statement{SQL: p.GetSql(), Args: make([]Value, len(p.GetArgs()))}
	for i, a := range p.GetArgs() {
		s.Args[i] = valueFromProto(a)
	}
	return s
}

// sqlServer serves SQLService for the instances of a server.
type sqlServer struct {
	pb.UnimplementedSQLServiceServer
	s *server
}

func (x *sqlServer) instance(id string) (SQLInstance, error) {
	inst, err := x.s.instance(id)
	if err != nil {
		return nil, err
	}
	si, ok := inst.(SQLInstance)
	if !ok {
		return nil, Errorf(KindUnimplemented, "this resource has no sql capability")
	}
	return si, nil
}

func (x *sqlServer) Query(req *pb.SQLServiceQueryRequest, stream grpc.ServerStreamingServer[pb.SQLServiceQueryResponse]) error {
	si, err := x.instance(req.GetInstanceId())
	if err != nil {
		return errorToStatus(err)
	}
	st := statementFromProto(req.GetStatement())
	rows, err := si.Query(WithCallerInput(stream.Context(), StatementInput(st)...), st)
	if err != nil {
		return errorToStatus(err)
	}
	defer rows.Close()
	cols := make([]*pb.SQLColumn, 0, len(rows.Columns()))
	for _, c := range rows.Columns() {
		cols = append(cols, &pb.SQLColumn{Name: strings.ToValidUTF8(c.Name, "\uFFFD"), Kind: string(c.Kind), DatabaseType: strings.ToValidUTF8(c.DatabaseType, "\uFFFD")})
	}
	// On the data connection, a result that fits in one batch goes whole
	// in one message, with the session's state: the host knows it is
	// complete, and its session clean, as soon as it has the rows.
	whole := mux.Served(stream.Context())
	columnsSent := false
	sendColumns := func() error {
		if columnsSent {
			return nil
		}
		columnsSent, whole = true, false
		return stream.Send(&pb.SQLServiceQueryResponse{Msg: &pb.SQLServiceQueryResponse_Columns{Columns: &pb.SQLColumns{Columns: cols}}})
	}
	if !whole {
		if err := sendColumns(); err != nil {
			return err
		}
	}
	batch := &pb.SQLRowBatch{}
	size := 0
	flush := func() error {
		if err := sendColumns(); err != nil {
			return err
		}
		if len(batch.Rows) == 0 {
			return nil
		}
		err := stream.Send(&pb.SQLServiceQueryResponse{Msg: &pb.SQLServiceQueryResponse_Rows{Rows: batch}})
		batch, size = &pb.SQLRowBatch{}, 0
		return err
	}
	for rows.Next() {
		vals := rows.Values()
		row := &pb.SQLRow{Values: make([]*pb.SQLValue, len(vals))}
		for i, v := range vals {
			row.Values[i] = valueToProto(v)
			size += 16 + len(v.Text) + len(v.Bytes)
		}
		batch.Rows = append(batch.Rows, row)
		if len(batch.Rows) >= rowBatchRows || size >= rowBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		// The rows read before the error reach the caller first.
		if ferr := flush(); ferr != nil {
			return ferr
		}
		return errorToStatus(err)
	}
	// The session's state is known once the result is closed.
	if err := rows.Close(); err != nil {
		if ferr := flush(); ferr != nil {
			return ferr
		}
		return errorToStatus(err)
	}
	if whole {
		return sendLast[pb.SQLServiceQueryRequest](stream, &pb.SQLServiceQueryResponse{Msg: &pb.SQLServiceQueryResponse_Result{Result: &pb.SQLResult{
			Columns: cols, Rows: batch.Rows, Session: sessionOf(si),
		}}})
	}
	if err := flush(); err != nil {
		return err
	}
	return stream.Send(&pb.SQLServiceQueryResponse{Msg: &pb.SQLServiceQueryResponse_End{End: &pb.SQLQueryEnd{Session: sessionOf(si)}}})
}

func (x *sqlServer) Exec(ctx context.Context, req *pb.SQLServiceExecRequest) (*pb.SQLServiceExecResponse, error) {
	si, err := x.instance(req.GetInstanceId())
	if err != nil {
		return nil, errorToStatus(err)
	}
	st := statementFromProto(req.GetStatement())
	res, err := si.Exec(WithCallerInput(ctx, StatementInput(st)...), st)
	if err != nil {
		return nil, errorToStatus(err)
	}
	return &pb.SQLServiceExecResponse{RowsAffected: res.RowsAffected, LastInsertId: res.LastInsertID, HasLastInsertId: res.HasLastInsertID, Session: sessionOf(si)}, nil
}

func (x *sqlServer) Begin(ctx context.Context, req *pb.SQLServiceBeginRequest) (*pb.SQLServiceBeginResponse, error) {
	si, err := x.instance(req.GetInstanceId())
	if err != nil {
		return nil, errorToStatus(err)
	}
	if err := si.Begin(ctx, TxOptions{Isolation: IsolationLevel(req.GetIsolation()), ReadOnly: req.GetReadOnly()}); err != nil {
		return nil, errorToStatus(err)
	}
	return &pb.SQLServiceBeginResponse{Session: sessionOf(si)}, nil
}

func (x *sqlServer) Commit(ctx context.Context, req *pb.SQLServiceCommitRequest) (*pb.SQLServiceCommitResponse, error) {
	si, err := x.instance(req.GetInstanceId())
	if err != nil {
		return nil, errorToStatus(err)
	}
	if err := si.Commit(ctx); err != nil {
		return nil, errorToStatus(err)
	}
	return &pb.SQLServiceCommitResponse{Session: sessionOf(si)}, nil
}

func (x *sqlServer) Rollback(ctx context.Context, req *pb.SQLServiceRollbackRequest) (*pb.SQLServiceRollbackResponse, error) {
	si, err := x.instance(req.GetInstanceId())
	if err != nil {
		return nil, errorToStatus(err)
	}
	if err := si.Rollback(ctx); err != nil {
		return nil, errorToStatus(err)
	}
	return &pb.SQLServiceRollbackResponse{Session: sessionOf(si)}, nil
}

// sendLast sends m as the stream's last message: on the data connection
// it leaves with the call's end, in one frame.
func sendLast[Req, Res any](stream grpc.ServerStreamingServer[Res], m *Res) error {
	if g, ok := stream.(*grpc.GenericServerStream[Req, Res]); ok {
		return mux.SendLast(g.ServerStream, m)
	}
	return stream.Send(m)
}

// The host side: remoteInstance speaks SQLService to the plugin. It
// implements SQLInstance whether or not the plugin's type has the sql
// capability; the host checks the capability from Describe, and a plugin
// without it answers unimplemented.

func (i *remoteInstance) Query(ctx context.Context, stmt Statement) (Rows, error) {
	i.noteSession(pb.SessionState_SESSION_STATE_UNSPECIFIED) // until the result's end says
	ctx, cancel := context.WithCancel(ctx)
	stream, err := i.sql.Query(ctx, &pb.SQLServiceQueryRequest{InstanceId: i.id, Statement: statementToProto(stmt)})
	if err != nil {
		err = remoteError(ctx, err)
		cancel()
		return nil, err
	}
	r := &remoteRows{ctx: ctx, cancel: cancel, inst: i, recv: answerReceiver(stream)}
	var first queryAnswer
	if err := r.recv(&first); err != nil {
		err = remoteError(ctx, err)
		cancel()
		return nil, err
	}
	switch first.msg {
	case answerResult:
		// The whole result: the stream's end follows, and is let go.
		r.batch, r.last = first.rows, true
		i.noteSession(first.session)
		if a, ok := stream.(*grpc.GenericClientStream[pb.SQLServiceQueryRequest, pb.SQLServiceQueryResponse]); ok {
			if a, ok := a.ClientStream.(interface{ Abandon() }); ok {
				a.Abandon()
			}
		}
	case answerColumns:
	default:
		cancel()
		return nil, Errorf(KindInternal, "plugin began a result with message %d, not its columns", first.msg)
	}
	r.cols = first.cols
	return r, nil
}

// answerReceiver returns what receives the messages of stream: decoded
// from their frames on the data connection, converted from protobuf
// messages on gRPC.
func answerReceiver(stream grpc.ServerStreamingClient[pb.SQLServiceQueryResponse]) func(*queryAnswer) error {
	if g, ok := stream.(*grpc.GenericClientStream[pb.SQLServiceQueryRequest, pb.SQLServiceQueryResponse]); ok {
		if _, onMux := g.ClientStream.(interface{ Abandon() }); onMux {
			return func(a *queryAnswer) error { return g.ClientStream.RecvMsg(a) }
		}
	}
	return func(a *queryAnswer) error {
		m, err := stream.Recv()
		if err == nil {
			*a = answerFromProto(m)
		}
		return err
	}
}

func (i *remoteInstance) Exec(ctx context.Context, stmt Statement) (ExecResult, error) {
	resp, err := i.sql.Exec(ctx, &pb.SQLServiceExecRequest{InstanceId: i.id, Statement: statementToProto(stmt)})
	i.noteSession(resp.GetSession())
	if err != nil {
		return ExecResult{}, remoteError(ctx, err)
	}
	return ExecResult{RowsAffected: resp.GetRowsAffected(), LastInsertID: resp.GetLastInsertId(), HasLastInsertID: resp.GetHasLastInsertId()}, nil
}

func (i *remoteInstance) Begin(ctx context.Context, opts TxOptions) error {
	resp, err := i.sql.Begin(ctx, &pb.SQLServiceBeginRequest{InstanceId: i.id, Isolation: string(opts.Isolation), ReadOnly: opts.ReadOnly})
	i.noteSession(resp.GetSession())
	return remoteError(ctx, err)
}

func (i *remoteInstance) Commit(ctx context.Context) error {
	resp, err := i.sql.Commit(ctx, &pb.SQLServiceCommitRequest{InstanceId: i.id})
	i.noteSession(resp.GetSession())
	return remoteError(ctx, err)
}

func (i *remoteInstance) Rollback(ctx context.Context) error {
	resp, err := i.sql.Rollback(ctx, &pb.SQLServiceRollbackRequest{InstanceId: i.id})
	i.noteSession(resp.GetSession())
	return remoteError(ctx, err)
}

// remoteRows reads a streamed query result batch by batch.
type remoteRows struct {
	ctx    context.Context
	cancel context.CancelFunc
	recv   func(*queryAnswer) error
	inst   *remoteInstance // told the session's state at the result's end
	cols   []Column
	batch  [][]Value
	row    []Value
	err    error
	done   bool
	last   bool // the batch is the result's last
}

func (r *remoteRows) Columns() []Column { return r.cols }
func (r *remoteRows) Values() []Value   { return r.row }
func (r *remoteRows) Err() error        { return r.err }

func (r *remoteRows) Next() bool {
	for len(r.batch) == 0 {
		if r.last && !r.done {
			r.finish()
		}
		if r.done {
			return false
		}
		var m queryAnswer
		if err := r.recv(&m); err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = remoteError(r.ctx, err)
			}
			r.finish()
			return false
		}
		switch m.msg {
		case answerEnd:
			r.inst.noteSession(m.session)
			continue // the stream ends next
		case answerRows:
			r.batch = m.rows
		default:
			r.err = Errorf(KindInternal, "plugin sent message %d in the middle of rows", m.msg)
			r.finish()
			return false
		}
	}
	r.row = r.batch[0]
	r.batch[0] = nil
	r.batch = r.batch[1:]
	return true
}

func (r *remoteRows) finish() {
	r.done = true
	r.batch, r.row = nil, nil
	r.cancel()
}

// Close stops the stream; the plugin sees its context canceled.
func (r *remoteRows) Close() error {
	if !r.done {
		r.finish()
	}
	return nil
}

var (
	_ SQLInstance = (*remoteInstance)(nil)
	_ Rows        = (*remoteRows)(nil)
)

func (x *sqlServer) Batch(ctx context.Context, req *pb.SQLServiceBatchRequest) (*pb.SQLServiceBatchResponse, error) {
	si, err := x.instance(req.GetInstanceId())
	if err != nil {
		return nil, errorToStatus(err)
	}
	stmts := make([]Statement, len(req.GetStatements()))
	for i, st := range req.GetStatements() {
		stmts[i] = statementFromProto(st)
		ctx = WithCallerInput(ctx, StatementInput(stmts[i])...)
	}
	results, err := runBatch(ctx, si, stmts)
	if err != nil {
		return nil, errorToStatus(err)
	}
	out := &pb.SQLServiceBatchResponse{Results: make([]*pb.SQLServiceExecResponse, len(results)), Session: sessionOf(si)}
	for i, r := range results {
		out.Results[i] = &pb.SQLServiceExecResponse{RowsAffected: r.RowsAffected, LastInsertId: r.LastInsertID, HasLastInsertId: r.HasLastInsertID}
	}
	return out, nil
}

// runBatch runs statements with the instance's Batch, or one Exec after
// another, and names the statement that failed.
func runBatch(ctx context.Context, si SQLInstance, stmts []Statement) ([]ExecResult, error) {
	if b, ok := si.(Batcher); ok {
		return b.Batch(ctx, stmts)
	}
	results := make([]ExecResult, 0, len(stmts))
	for i, st := range stmts {
		r, err := si.Exec(ctx, st)
		if err != nil {
			return nil, batchError(i, len(stmts), err)
		}
		results = append(results, r)
	}
	return results, nil
}

// batchError names the statement of a batch that failed, keeping the
// error's kind and code.
func batchError(i, n int, err error) error {
	e := &Error{Kind: KindOf(err), Message: "statement " + strconv.Itoa(i+1) + " of " + strconv.Itoa(n) + ": " + err.Error()}
	var se *Error
	if errors.As(err, &se) {
		e.Code, e.Retryable = se.Code, se.Retryable
	}
	return e
}

// Batch sends the statements in one call to the plugin.
func (i *remoteInstance) Batch(ctx context.Context, stmts []Statement) ([]ExecResult, error) {
	req := &pb.SQLServiceBatchRequest{InstanceId: i.id, Statements: make([]*pb.SQLStatement, len(stmts))}
	for j, st := range stmts {
		req.Statements[j] = statementToProto(st)
	}
	resp, err := i.sql.Batch(ctx, req)
	i.noteSession(resp.GetSession())
	if err != nil {
		return nil, remoteError(ctx, err)
	}
	out := make([]ExecResult, len(resp.GetResults()))
	for j, r := range resp.GetResults() {
		out[j] = ExecResult{RowsAffected: r.GetRowsAffected(), LastInsertID: r.GetLastInsertId(), HasLastInsertID: r.GetHasLastInsertId()}
	}
	return out, nil
}

// BatchError names statement i (from zero) of a batch of n in err, keeping
// its kind and code. Drivers implementing Batcher use it for the
// statement that failed.
func BatchError(i, n int, err error) error { return batchError(i, n, err) }

var _ Batcher = (*remoteInstance)(nil)

// sessionOf is what the plugin tells the host of an instance's session
// after a call.
func sessionOf(inst any) pb.SessionState {
	r, ok := inst.(SessionReporter)
	switch {
	case !ok:
		return pb.SessionState_SESSION_STATE_UNSPECIFIED
	case r.SessionClean():
		return pb.SessionState_SESSION_STATE_CLEAN
	default:
		return pb.SessionState_SESSION_STATE_DIRTY
	}
}

// noteSession keeps what the plugin said of the session with its answer:
// nothing, when the call failed.
func (i *remoteInstance) noteSession(s pb.SessionState) { i.session.Store(int32(s)) }

// SessionClean reports whether the plugin's last answer said the session
// is clean.
func (i *remoteInstance) SessionClean() bool {
	return pb.SessionState(i.session.Load()) == pb.SessionState_SESSION_STATE_CLEAN
}

var _ SessionReporter = (*remoteInstance)(nil)
