package admin_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/admin"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// faults is a driver whose operations fail with the kind they are asked
// for: fail, and fail_stream after writing its output.
type faults struct{}

type faultArgs struct {
	Kind   string `nebula:"kind,required" doc:"The kind to fail with."`
	Output string `nebula:"output" doc:"What fail_stream writes before it fails."`
}

func (faults) Info() sdk.DriverInfo {
	args := sdk.MustSchemaFor(faultArgs{})
	return sdk.DriverInfo{Name: "faults", Version: "1.0.0", Types: []sdk.ResourceType{{
		Name: "faults", Description: "Fails as asked.", Pooling: sdk.PoolingShared,
		Operations: []sdk.Operation{
			{Name: "fail", Description: "Fails with kind.", Args: args},
			{Name: "fail_stream", Description: "Writes output, then fails with kind.", Args: args, Stream: sdk.StreamDownload},
		},
	}}}
}

func (faults) Configure(context.Context, sdk.ConfigureRequest) (sdk.Resource, error) {
	return faultResource{}, nil
}

type faultResource struct{}

func (faultResource) Open(context.Context) (sdk.Instance, error) { return faultInstance{}, nil }
func (faultResource) Close(context.Context) error                { return nil }

type faultInstance struct{}

func (faultInstance) Check(context.Context) error { return nil }
func (faultInstance) Close(context.Context) error { return nil }

func (faultInstance) Invoke(_ context.Context, req sdk.InvokeRequest) (any, error) {
	var a faultArgs
	if err := req.Decode(&a); err != nil {
		return nil, err
	}
	return nil, sdk.Errorf(sdk.Kind(a.Kind), "failing with %s, as asked", a.Kind)
}

func (faultInstance) InvokeStream(_ context.Context, req sdk.InvokeRequest, _ io.Reader, out io.Writer) (any, error) {
	var a faultArgs
	if err := req.Decode(&a); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(out, a.Output); err != nil {
		return nil, err
	}
	return nil, sdk.Errorf(sdk.Kind(a.Kind), "failing with %s, as asked", a.Kind)
}

// startEndpoint runs a host as newHost does, and its admin server on a
// loopback port. It returns the server's base URL.
func startEndpoint(t *testing.T, src func(dir string) string, opts ...host.Option) (string, *admin.Server) {
	t.Helper()
	return startEndpointWith(t, admin.Config{}, src, opts...)
}

// startEndpointWith is startEndpoint with the admin server's
// configuration acfg, its address and logger set.
func startEndpointWith(t *testing.T, acfg admin.Config, src func(dir string) string, opts ...host.Option) (string, *admin.Server) {
	t.Helper()
	h := newHost(t, src, opts...)
	acfg.Address, acfg.Logger = "127.0.0.1:0", slog.New(slog.DiscardHandler)
	srv := admin.New(h, acfg)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: the server stops before the host closes.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + srv.Addr(), srv
}

// openAPI is the API's description, decoded for the tests to walk.
type openAPI struct {
	Paths map[string]map[string]struct {
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"paths"`
}

func readOpenAPI(t *testing.T) openAPI {
	t.Helper()
	var doc openAPI
	if err := json.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// newValidator builds a validator of answers against a closed copy of the
// description: every schema that lists properties gets
// additionalProperties false, so that an answer with a property the
// description does not list fails. (The description itself leaves them
// open, for hosts newer than their callers; its maps and free-form values,
// such as an operation's result, stay open here too.)
func newValidator(t *testing.T) validator.Validator {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, s := range schemas {
		s := s.(map[string]any)
		if _, ok := s["properties"]; ok {
			if _, set := s["additionalProperties"]; !set {
				s["additionalProperties"] = false
			}
		}
	}
	closed, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := libopenapi.NewDocument(closed)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return v
}

func TestOpenAPIDocumentIsValidOpenAPI31(t *testing.T) {
	doc, err := libopenapi.NewDocument(api.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", v)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Fatalf("building the model: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s (%s)", e.Message, e.Reason, e.SpecPath)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s (%s)", se.Reason, se.FieldPath, se.KeywordLocation)
			}
		}
	}
}

// patternOf returns the mux pattern of a path and method of the
// description: "GET /v1/resources/{name}".
func patternOf(path, method string) string { return strings.ToUpper(method) + " " + path }

// Every route the server registers is described, and nothing else is.
func TestOpenAPIDocumentDescribesEveryRoute(t *testing.T) {
	_, srv := startEndpoint(t, func(string) string { return `resource "memory" "cache" {}` })
	var served []string
	for _, r := range srv.Routes() {
		served = append(served, r.Pattern)
	}
	var described []string
	for path, item := range readOpenAPI(t).Paths {
		for method := range item {
			described = append(described, patternOf(path, method))
		}
	}
	sort.Strings(served)
	sort.Strings(described)
	if !slices.Equal(served, described) {
		t.Fatalf("the server registers\n  %s\nthe description has\n  %s", strings.Join(served, "\n  "), strings.Join(described, "\n  "))
	}
}

// exchange is one request the conformance test sends: to the host that
// serves it, with its method, path, headers and body.
type exchange struct {
	on          string // "main", "unready", "nometrics", "auth", "badreload" or "failreload"
	method      string
	path, body  string
	contentType string
	header      map[string]string
}

// failWith asks a faults resource to fail with kind.
func failWith(route string, kind sdk.Kind) exchange {
	if route == "stream" {
		return exchange{method: http.MethodPost, path: "/v1/resources/faults.f/stream/fail_stream",
			contentType: api.ContentTypeStream, header: map[string]string{api.ArgsHeader: `{"kind":"` + string(kind) + `"}`}}
	}
	return exchange{method: http.MethodPost, path: "/v1/resources/faults.f/invoke", contentType: api.ContentTypeJSON,
		body: `{"operation":"fail","args":{"kind":"` + string(kind) + `"}}`}
}

// documentedAnswers returns, for every route and every status its
// description lists, a request that a host answers with that status.
func documentedAnswers() map[string]exchange {
	get := func(path string) exchange { return exchange{method: http.MethodGet, path: path} }
	with := func(e exchange, k, v string) exchange {
		h := map[string]string{}
		for hk, hv := range e.header {
			h[hk] = hv
		}
		h[k] = v
		e.header = h
		return e
	}
	on := func(e exchange, hostName string) exchange { e.on = hostName; return e }
	invoke := exchange{method: http.MethodPost, path: "/v1/resources/memory.cache/invoke", contentType: api.ContentTypeJSON,
		body: `{"operation":"set","args":{"key":"a","value":"1"},"owner":{"tenant":"t"}}`}
	reload := exchange{method: http.MethodPost, path: "/v1/reload", contentType: api.ContentTypeJSON, body: "{}"}
	stream := exchange{method: http.MethodPost, path: "/v1/resources/localfs.files/stream/put", contentType: api.ContentTypeStream,
		body: "hello", header: map[string]string{api.ArgsHeader: `{"key":"x.txt"}`, api.TenantHeader: "t"}}
	m := map[string]exchange{
		"GET /livez 200":                            get("/livez"),
		"GET /readyz 200":                           get("/readyz?verbose"),
		"GET /readyz 503":                           on(get("/readyz?verbose"), "unready"),
		"GET /metrics 200":                          get("/metrics"),
		"GET /metrics 404":                          on(get("/metrics"), "nometrics"),
		"GET /v1/health 200":                        get("/v1/health?limit=1"),
		"GET /v1/health 400":                        get("/v1/health?limit=0"),
		"GET /v1/resources 200":                     get("/v1/resources?limit=2"),
		"GET /v1/resources 400":                     get("/v1/resources?after=memory.nope"),
		"GET /v1/resources/{name} 200":              get("/v1/resources/memory.cache"),
		"GET /v1/resources/{name} 404":              get("/v1/resources/memory.cahce"),
		"GET /v1/plugins 200":                       get("/v1/plugins"),
		"GET /v1/openapi.json 200":                  get("/v1/openapi.json"),
		"POST /v1/resources/{name}/invoke 200":      invoke,
		"POST /v1/resources/{name}/invoke 415":      with(invoke, "Content-Type", "text/plain"),
		"POST /v1/resources/{name}/stream/{op} 200": stream,
		"POST /v1/resources/{name}/stream/{op} 415": with(stream, "Content-Type", "application/json"),
		"POST /v1/reload 200":                       reload,
		"POST /v1/reload 400":                       func() exchange { e := reload; e.body = `{"everything":true}`; return e }(),
		"POST /v1/reload 415":                       with(reload, "Content-Type", "text/plain"),
		"POST /v1/reload 422":                       on(reload, "badreload"),
		"POST /v1/reload 500":                       on(reload, "failreload"),
		"POST /v1/reload 501":                       on(reload, "unready"),
	}
	// The gate's refusals, on every route; and, on a host with
	// identities, a request without credentials on every route but the
	// probes.
	for _, pattern := range []string{"GET /livez", "GET /readyz", "GET /metrics", "GET /v1/health", "GET /v1/resources",
		"GET /v1/resources/{name}", "GET /v1/plugins", "GET /v1/openapi.json", "POST /v1/resources/{name}/invoke",
		"POST /v1/resources/{name}/stream/{op}", "POST /v1/reload"} {
		ok := m[pattern+" 200"]
		m[pattern+" 403"] = with(ok, "Origin", "http://evil.example")
		m[pattern+" 421"] = with(ok, "Host", "evil.example")
		if pattern != "GET /livez" && pattern != "GET /readyz" {
			m[pattern+" 401"+" (no credentials)"] = on(ok, "auth")
		}
	}
	m["GET /v1/resources/{name} 403 (another tenant's resource)"] = with(on(get("/v1/resources/memory.cache"), "auth"), "Authorization", "Bearer tok-globex-worker")
	// An operation can fail with any kind; an unknown resource is 404
	// before any driver, and the faults driver gives the others.
	for _, route := range []string{"invoke", "stream"} {
		pattern := "POST /v1/resources/{name}/invoke"
		if route == "stream" {
			pattern = "POST /v1/resources/{name}/stream/{op}"
		}
		for _, k := range []sdk.Kind{sdk.KindInvalidArgument, sdk.KindUnauthenticated, sdk.KindNotFound, sdk.KindConflict,
			sdk.KindFailedPrecondition, sdk.KindResourceExhausted, sdk.KindCanceled, sdk.KindInternal, sdk.KindUnimplemented,
			sdk.KindUnavailable, sdk.KindTimeout} {
			m[pattern+" "+strconv.Itoa(api.Kind(k).HTTPStatus())] = failWith(route, k)
		}
		m[pattern+" 403"+" (permission_denied)"] = failWith(route, sdk.KindPermissionDenied)
		m[pattern+" 409"+" (already_exists)"] = failWith(route, sdk.KindAlreadyExists)
		m[pattern+" 500"+" (unknown)"] = failWith(route, sdk.KindUnknown)
	}
	m["POST /v1/resources/{name}/stream/{op} 200 (error trailer)"] = with(failWith("stream", sdk.KindUnavailable), api.ArgsHeader, `{"kind":"unavailable","output":"some"}`)
	return m
}

// For every route and every status the description lists, a real request
// to a running endpoint gets that status, with an answer that the
// description's schema accepts, with no property it does not list; and
// every such request is
// one the description lists.
func TestEveryDocumentedAnswerIsServedAsDescribed(t *testing.T) {
	hosts := map[string]string{}
	reloadWith := func(err error) func(context.Context) (api.ReloadResult, error) {
		return func(context.Context) (api.ReloadResult, error) {
			if err != nil {
				return api.ReloadResult{}, err
			}
			return api.ReloadResult{Added: []string{"memory.fresh"}, Changed: []string{"memory.cache"}, Unchanged: 3}, nil
		}
	}
	hosts["auth"], _ = startEndpointWith(t, admin.Config{Auth: testAuth()}, tenantHost)
	hosts["badreload"], _ = startEndpointWith(t, admin.Config{Reload: reloadWith(invalidConfig{"the configuration has errors; nothing changed:\nmain.hcl:1:1: error: Bad"})},
		func(string) string { return `resource "memory" "cache" {}` })
	hosts["failreload"], _ = startEndpointWith(t, admin.Config{Reload: reloadWith(errors.New("starting plugin redis: not found"))},
		func(string) string { return `resource "memory" "cache" {}` })
	hosts["main"], _ = startEndpointWith(t, admin.Config{Reload: reloadWith(nil)}, func(dir string) string {
		return `
resource "memory" "cache" {}
resource "memory" "other" {}
resource "faults" "f" {}
resource "localfs" "files" {
  root        = "` + filepath.Join(dir, "files") + `"
  create_root = true
}`
	})
	hosts["unready"], _ = startEndpoint(t, func(dir string) string {
		return `
resource "memory" "cache" {}
resource "localfs" "files" {
  root = "` + filepath.Join(dir, "missing") + `"
}`
	}, host.WithPartialStart())
	hosts["nometrics"], _ = startEndpoint(t, func(string) string {
		return `
telemetry {
  metrics {
    enabled = false
  }
}
resource "memory" "cache" {}`
	})
	v := newValidator(t)
	answers := documentedAnswers()

	// The table covers what the description lists, and no more.
	described := map[string]bool{}
	for path, item := range readOpenAPI(t).Paths {
		for method, op := range item {
			for status := range op.Responses {
				described[patternOf(path, method)+" "+status] = true
			}
		}
	}
	covered := map[string]bool{}
	for name := range answers {
		key, _, _ := strings.Cut(name, " (")
		covered[key] = true
		if !described[key] {
			t.Errorf("%s: the description lists no such answer", name)
		}
	}
	for key := range described {
		if !covered[key] {
			t.Errorf("%s: described, but no request in the table gets it", key)
		}
	}

	for name, ex := range answers {
		t.Run(name, func(t *testing.T) {
			key, _, _ := strings.Cut(name, " (")
			want, _ := strconv.Atoi(key[strings.LastIndexByte(key, ' ')+1:])
			base := hosts[cmp.Or(ex.on, "main")]
			req, err := http.NewRequest(ex.method, base+ex.path, strings.NewReader(ex.body))
			if err != nil {
				t.Fatal(err)
			}
			if ex.contentType != "" {
				req.Header.Set("Content-Type", ex.contentType)
			}
			for k, val := range ex.header {
				if k == "Host" {
					req.Host = val
				} else {
					req.Header.Set(k, val)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != want {
				t.Fatalf("status %d, want %d: %.500s", resp.StatusCode, want, body)
			}
			if strings.HasSuffix(name, "(error trailer)") {
				var eb api.ErrorBody
				if err := json.Unmarshal([]byte(resp.Trailer.Get(api.ErrorTrailer)), &eb); err != nil || eb.Error.Kind != api.KindUnavailable || string(body) != "some" {
					t.Fatalf("trailer %q (%v), body %q", resp.Trailer, err, body)
				}
			}
			// The validator reads the body itself; the URL it matches
			// against the description's paths is the request's.
			resp.Body = io.NopCloser(bytes.NewReader(body))
			if ok, errs := v.ValidateHttpResponse(req, resp); !ok {
				for _, e := range errs {
					t.Errorf("%s: %s", e.Message, e.Reason)
					for _, se := range e.SchemaValidationErrors {
						t.Errorf("  %s at %s (%s)", se.Reason, se.FieldPath, se.KeywordLocation)
					}
				}
				t.Logf("the answer: %.2000s", body)
			}
		})
	}
}
