package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// QueryArgs are the arguments of query.
type QueryArgs struct {
	Query         string          `nebula:"query,required" doc:"The GraphQL document: a query operation, with the fragments it uses."`
	Variables     json.RawMessage `nebula:"variables" doc:"The operation's variables, a JSON object; unset for none."`
	OperationName string          `nebula:"operation_name" default:"" doc:"Which operation of the document to run; \"\" when it has one."`
}

// Validate checks the arguments without reading the document.
func (a QueryArgs) Validate() error { return checkRequest(a.Query, a.Variables) }

// MutateArgs are the arguments of mutate.
type MutateArgs struct {
	Query         string          `nebula:"query,required" doc:"The GraphQL document: a mutation operation, with the fragments it uses."`
	Variables     json.RawMessage `nebula:"variables" doc:"The operation's variables, a JSON object; unset for none."`
	OperationName string          `nebula:"operation_name" default:"" doc:"Which operation of the document to run; \"\" when it has one."`
	Idempotent    bool            `nebula:"idempotent" default:"false" doc:"The mutation may run twice to the same effect (it sets values, or the server deduplicates it): the host's retry policy may then repeat it after a retryable error."`
}

// Validate checks the arguments without reading the document.
func (a MutateArgs) Validate() error { return checkRequest(a.Query, a.Variables) }

// checkRequest checks the arguments every operation shares.
func checkRequest(query string, variables json.RawMessage) error {
	if strings.TrimSpace(query) == "" {
		return sdk.Errorf(sdk.KindInvalidArgument, "argument %q is empty: give a GraphQL document", "query")
	}
	v := bytes.TrimSpace(variables)
	if len(v) > 0 && !bytes.Equal(v, []byte("null")) && v[0] != '{' {
		return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: want a JSON object of the operation's variables, got %s", "variables", jsonKind(v))
	}
	return nil
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(v []byte) string {
	switch v[0] {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a bool"
	}
	return "a number"
}

// Result is the result of query and mutate: the response's data, errors
// and extensions, each exactly as the server sent it. Errors is absent
// when the response had none; when present beside data, the data is
// partial: each error's message, path and locations say what is
// missing.
type Result struct {
	Data       json.RawMessage `json:"data"`
	Errors     json.RawMessage `json:"errors,omitempty"`
	Extensions json.RawMessage `json:"extensions,omitempty"`
}

// request is the body of a GraphQL request, over HTTP or in a subscribe
// message.
type request struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName,omitempty"`
	Variables     json.RawMessage `json:"variables,omitempty"`
}

func newRequest(query, operationName string, variables json.RawMessage) request {
	if bytes.Equal(bytes.TrimSpace(variables), []byte("null")) {
		variables = nil
	}
	return request{Query: query, OperationName: operationName, Variables: variables}
}

// Query runs a query operation.
func (i *Instance) Query(ctx context.Context, a QueryArgs) (Result, error) {
	op, err := i.checkType(a.Query, a.OperationName, opQuery)
	if err != nil {
		return Result{}, err
	}
	return i.post(ctx, "graphql query", newRequest(a.Query, op.Name, a.Variables))
}

// Mutate runs a mutation operation.
func (i *Instance) Mutate(ctx context.Context, a MutateArgs) (Result, error) {
	op, err := i.checkType(a.Query, a.OperationName, opMutation)
	if err != nil {
		return Result{}, err
	}
	return i.post(ctx, "graphql mutate", newRequest(a.Query, op.Name, a.Variables))
}

// opFor names the driver's operation that runs operations of each type.
var opFor = map[string]string{opQuery: "query", opMutation: "mutate", opSubscription: "subscribe"}

// checkType returns the operation a request runs, and refuses one that
// is not of type want: a mutation sent by query (which the host may
// retry) or the reverse. The request then names the operation (its
// operationName), as the caller did or, for a document's only operation,
// as the document does.
func (i *Instance) checkType(doc, name, want string) (operation, error) {
	op, err := selectOperation(doc, name)
	if err != nil {
		return op, sdk.WrapError(sdk.KindInvalidArgument, err, "graphql "+opFor[want])
	}
	if op.Type != want {
		what := "the operation"
		if op.Name != "" {
			what = fmt.Sprintf("operation %q", op.Name)
		}
		return op, sdk.Errorf(sdk.KindInvalidArgument, "graphql %s: argument %q: %s is a %s: run it with %s", opFor[want], "query", what, op.Type, opFor[op.Type])
	}
	return op, nil
}

// post sends one GraphQL request over HTTP and reads its response.
func (i *Instance) post(ctx context.Context, what string, req request) (Result, error) {
	if err := i.checkOpen(what); err != nil {
		return Result{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, sdk.WrapError(sdk.KindInvalidArgument, err, what)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, i.res.endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return Result{}, sdk.WrapError(sdk.KindInternal, err, what)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/graphql-response+json, application/json;q=0.9")
	resp, err := i.client.HTTP().Do(hreq)
	if err != nil {
		return Result{}, i.requestError(ctx, what, err)
	}
	defer resp.Body.Close()
	limit := i.res.cfg.MaxResponseBytes
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Result{}, i.requestError(ctx, what, err)
	}
	if int64(len(b)) > limit {
		return Result{}, &sdk.Error{Kind: sdk.KindResourceExhausted, Retryable: &notRetryable,
			Message: fmt.Sprintf("%s: the response is larger than max_response_bytes (%d)", what, limit)}
	}
	return i.readResponse(ctx, what, resp, b)
}

// requestError is the error of a request that got no whole response.
func (i *Instance) requestError(ctx context.Context, what string, err error) error {
	e := i.client.RequestError(ctx, http.MethodPost, i.res.endpoint, err)
	var se *sdk.Error
	if errors.As(e, &se) {
		return i.redactError(ctx, se, what)
	}
	return e
}

var notRetryable = false

// response is a GraphQL response, its parts as the server sent them.
type response struct {
	Data       json.RawMessage `json:"data"`
	Errors     json.RawMessage `json:"errors"`
	Extensions json.RawMessage `json:"extensions"`
}

// readResponse turns an HTTP response into a result or an error: a
// GraphQL response with data is a result, partial or not; one whose
// errors left no data is an error (responseError); a status that is not
// 2xx without a GraphQL response is transport.StatusError's.
func (i *Instance) readResponse(ctx context.Context, what string, resp *http.Response, body []byte) (Result, error) {
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	var statusErr *sdk.Error
	if !ok2xx {
		err := i.client.StatusError(resp, body)
		if !errors.As(err, &statusErr) {
			statusErr = &sdk.Error{Kind: sdk.KindInternal, Message: err.Error()}
		}
	}
	var gr response
	if err := json.Unmarshal(body, &gr); err != nil || !isJSONMedia(resp.Header.Get("Content-Type")) && len(gr.Data) == 0 && len(gr.Errors) == 0 {
		if statusErr != nil {
			return Result{}, i.redactError(ctx, statusErr, what)
		}
		return Result{}, &sdk.Error{Kind: sdk.KindInternal, Message: fmt.Sprintf("%s: the server's answer (%s, %d bytes) is not a GraphQL response", what, resp.Header.Get("Content-Type"), len(body))}
	}
	var errs []gqlError
	if len(gr.Errors) > 0 && !isNull(gr.Errors) {
		if err := json.Unmarshal(gr.Errors, &errs); err != nil {
			return Result{}, &sdk.Error{Kind: sdk.KindInternal, Message: what + ": the response's errors are not a list of GraphQL errors"}
		}
	}
	noData := len(gr.Data) == 0 || isNull(gr.Data)
	switch {
	case noData && len(errs) > 0:
		return Result{}, responseError(what, errs, statusErr, func(s string) string { return i.redact(ctx, s) })
	case statusErr != nil:
		return Result{}, i.redactError(ctx, statusErr, what)
	case noData:
		return Result{}, &sdk.Error{Kind: sdk.KindInternal, Message: what + ": the response has neither data nor errors"}
	}
	res := Result{Data: gr.Data, Extensions: gr.Extensions}
	if len(errs) > 0 {
		res.Errors = gr.Errors
	}
	return res, nil
}

// isJSONMedia reports whether a Content-Type is JSON's or GraphQL's.
func isJSONMedia(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || mt == "application/graphql-response+json" || strings.HasSuffix(mt, "+json"))
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }
