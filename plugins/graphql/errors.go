package graphql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// DefaultCode is the Code of an error made of GraphQL errors whose
// first has no extensions.code.
const DefaultCode = "GRAPHQL_ERROR"

// codeKinds classifies the extensions.code of a GraphQL error: the codes
// of Apollo Server, GraphQL Yoga, Hasura and the GraphQL-over-HTTP
// drafts. A code not listed falls to what the error says of itself
// (errorKind). docs/graphql.md has the table.
var codeKinds = map[string]sdk.Kind{
	"GRAPHQL_PARSE_FAILED":          sdk.KindInvalidArgument,
	"GRAPHQL_VALIDATION_FAILED":     sdk.KindInvalidArgument,
	"BAD_USER_INPUT":                sdk.KindInvalidArgument,
	"BAD_REQUEST":                   sdk.KindInvalidArgument,
	"OPERATION_RESOLUTION_FAILURE":  sdk.KindInvalidArgument,
	"VALIDATION_FAILED":             sdk.KindInvalidArgument,
	"PERSISTED_QUERY_NOT_SUPPORTED": sdk.KindInvalidArgument,
	"PERSISTED_QUERY_NOT_FOUND":     sdk.KindFailedPrecondition,
	"UNAUTHENTICATED":               sdk.KindUnauthenticated,
	"UNAUTHORIZED":                  sdk.KindUnauthenticated,
	"FORBIDDEN":                     sdk.KindPermissionDenied,
	"ACCESS_DENIED":                 sdk.KindPermissionDenied,
	"NOT_FOUND":                     sdk.KindNotFound,
	"ALREADY_EXISTS":                sdk.KindAlreadyExists,
	"CONFLICT":                      sdk.KindConflict,
	"RATE_LIMITED":                  sdk.KindUnavailable,
	"TOO_MANY_REQUESTS":             sdk.KindUnavailable,
	"SERVICE_UNAVAILABLE":           sdk.KindUnavailable,
	"UNAVAILABLE":                   sdk.KindUnavailable,
	"TIMEOUT":                       sdk.KindTimeout,
	"GATEWAY_TIMEOUT":               sdk.KindTimeout,
	"INTERNAL_SERVER_ERROR":         sdk.KindInternal,
}

// gqlError is what the driver reads of one error of a GraphQL response.
type gqlError struct {
	Message    string            `json:"message"`
	Path       []json.RawMessage `json:"path"`
	Locations  json.RawMessage   `json:"locations"`
	Extensions json.RawMessage   `json:"extensions"`
}

// code returns the error's extensions.code, or "".
func (e gqlError) code() string {
	var ext struct {
		Code json.RawMessage `json:"code"`
	}
	if json.Unmarshal(e.Extensions, &ext) != nil || len(ext.Code) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(ext.Code, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(ext.Code)) // a number, as some servers send
}

// path returns the error's path as a dotted string (items.1.name), or "".
func (e gqlError) path() string {
	parts := make([]string, 0, len(e.Path))
	for _, p := range e.Path {
		var s string
		if json.Unmarshal(p, &s) == nil {
			parts = append(parts, s)
		} else {
			parts = append(parts, string(bytes.TrimSpace(p)))
		}
	}
	return strings.Join(parts, ".")
}

// errorKind is the kind of an error made of GraphQL errors that left no
// data: the first error's extensions.code where codeKinds knows it;
// otherwise invalid_argument for an error without a path (a request
// error: the server refused the document, its variables or the operation
// name before running anything, which is the caller's mistake), and
// internal for a field's error (a resolver failed on the server; the
// plugin protocol carries no "unknown").
func errorKind(first gqlError) sdk.Kind {
	if k, ok := codeKinds[strings.ToUpper(first.code())]; ok {
		return k
	}
	if len(first.Path) == 0 {
		return sdk.KindInvalidArgument
	}
	return sdk.KindInternal
}

// responseError is the error of a response whose GraphQL errors left no
// data: its kind from errorKind (or fallback, when the HTTP status says
// more), its Code the first error's extensions.code or DefaultCode, its
// message naming the first error's message and path. The message goes
// through redact, which removes the secrets a server may have quoted.
func responseError(what string, errs []gqlError, fallback *sdk.Error, redact func(string) string) *sdk.Error {
	if len(errs) == 0 {
		return &sdk.Error{Kind: sdk.KindInternal, Code: DefaultCode, Message: what + ": the server sent an empty list of errors and no data"}
	}
	first := errs[0]
	kind := errorKind(first)
	if fallback != nil {
		if _, known := codeKinds[strings.ToUpper(first.code())]; !known && fallback.Kind != sdk.KindInternal &&
			fallback.Kind != sdk.KindInvalidArgument {
			kind = fallback.Kind // 401, 429, 503: what the status says beats a guess
		}
	}
	code := first.code()
	if code == "" {
		code = DefaultCode
	}
	msg := what + ": " + strconv.Quote(first.Message)
	if p := first.path(); p != "" {
		msg += " at " + p
	}
	if first.code() != "" {
		msg += " (" + first.code() + ")"
	}
	if len(errs) > 1 {
		msg += fmt.Sprintf(", and %d more error(s)", len(errs)-1)
	}
	e := &sdk.Error{Kind: kind, Code: code, Message: redact(msg)}
	if fallback != nil {
		e.RetryAfter = fallback.RetryAfter
	}
	return e
}

// closeKinds classifies the close codes of graphql-transport-ws.
var closeKinds = map[int]sdk.Kind{
	4400: sdk.KindInvalidArgument,    // Bad request: a message the server refuses
	4401: sdk.KindUnauthenticated,    // Unauthorized
	4403: sdk.KindPermissionDenied,   // Forbidden
	4406: sdk.KindFailedPrecondition, // Subprotocol not acceptable
	4408: sdk.KindUnavailable,        // Connection initialisation timeout
	4409: sdk.KindInternal,           // Subscriber for <id> already exists
	4429: sdk.KindUnavailable,        // Too many initialisation requests
	4499: sdk.KindUnavailable,        // Terminated
	4500: sdk.KindUnavailable,        // Internal server error
}
