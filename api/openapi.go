package api

import (
	"bytes"
	_ "embed"
)

// openAPI is openapi.json, the OpenAPI 3.1 description of the admin API.
// It is written by hand, beside the types it describes; the host's tests
// check it against the OpenAPI 3.1 schema, against every answer of a
// running endpoint and against the routes the endpoint serves, and this
// package's tests check its schemas against these types' fields.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPIDocument returns the OpenAPI 3.1 description of the admin API, as
// JSON: every route, its parameters, bodies and statuses, and the error
// body. The host serves it at GET /v1/openapi.json.
func OpenAPIDocument() []byte { return bytes.Clone(openAPI) }
