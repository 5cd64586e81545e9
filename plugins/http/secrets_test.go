package httpclient_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	httpclient "github.com/nebula-resource/nebula-resource/plugins/http"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// The canaries: secret values that must appear in no error.
const (
	canaryBearer       = "canary-bearer-7f3a9c"
	canaryBasic        = "canary-basic-pass-51be"
	canaryClientSecret = "canary-client-secret-a0d4"
	canaryHeader       = "canary-api-key-99e1"
	canaryAccessToken  = "canary-access-token-c2f8"
)

// echoEverything answers 401 with every header and the body it got: the
// worst server, which quotes the credentials back.
func echoEverything(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var lines []string
		for k, vs := range r.Header {
			lines = append(lines, k+": "+strings.Join(vs, ","))
		}
		sort.Strings(lines)
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "refused %s %s\n%s\n%s", r.Method, r.URL, strings.Join(lines, "\n"), body)
	}
}

// The bearer token, basic password, client secret, secret headers and the
// access token are in no error: not when the server quotes them back in a
// 401, not when the token endpoint refuses the client and quotes them,
// not when nothing answers; in process over gRPC and as the built binary.
func TestSecretsAreInNoError(t *testing.T) {
	echo := httptest.NewServer(echoEverything(http.StatusUnauthorized))
	t.Cleanup(echo.Close)
	token := httptest.NewServer(echoEverything(http.StatusBadRequest))
	t.Cleanup(token.Close)
	// A token endpoint that issues the canary access token, for an API
	// that quotes it back.
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, canaryAccessToken)
	}))
	t.Cleanup(issuer.Close)
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()

	configs := map[string]map[string]any{
		"a bearer token the server quotes":   {"base_url": echo.URL, "bearer_token": canaryBearer, "secret_headers": map[string]string{"X-Api-Key": canaryHeader}},
		"a basic password the server quotes": {"base_url": echo.URL, "basic_username": "ada", "basic_password": canaryBasic},
		"a client secret the token endpoint quotes (header)": {"base_url": echo.URL, "oauth2_token_url": token.URL, "oauth2_client_id": "c",
			"oauth2_client_secret": canaryClientSecret, "oauth2_auth_style": "header"},
		"a client secret the token endpoint quotes (params)": {"base_url": echo.URL, "oauth2_token_url": token.URL, "oauth2_client_id": "c",
			"oauth2_client_secret": canaryClientSecret, "oauth2_auth_style": "params"},
		"an access token the server quotes":            {"base_url": echo.URL, "oauth2_token_url": issuer.URL, "oauth2_client_id": "c", "oauth2_client_secret": canaryClientSecret},
		"a token endpoint that does not answer":        {"base_url": echo.URL, "oauth2_token_url": refused.URL, "oauth2_client_id": "c", "oauth2_client_secret": canaryClientSecret},
		"a server that does not answer":                {"base_url": refused.URL, "bearer_token": canaryBearer},
		"a proxy with a password that does not answer": {"base_url": echo.URL, "proxy": "http://u:" + canaryBasic + "@" + strings.TrimPrefix(refused.URL, "http://")},
	}
	drivers := map[string]sdk.Driver{
		"in process": sdktest.Connect(t, httpclient.New()),
		"binary":     sdktest.Start(t, sdktest.Build(t, "./cmd/nebula-plugin-http")),
	}
	for dname, d := range drivers {
		for name, cfg := range configs {
			t.Run(dname+"/"+name, func(t *testing.T) {
				raw, _ := json.Marshal(cfg)
				inst := sdktest.Open(t, d, sdk.ConfigureRequest{Type: httpclient.TypeName, Name: "api", Config: raw})
				var errs []error
				_, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: "fetch", Args: json.RawMessage(`{"method":"POST","path":"/x?q=1","body":"payload"}`)})
				errs = append(errs, err)
				_, err = inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "request", Args: json.RawMessage(`{"path":"/y"}`)}, nil, io.Discard)
				errs = append(errs, err)
				for _, err := range errs {
					if err == nil {
						t.Fatal("the call succeeded; the test needs it to fail")
					}
					for _, c := range []string{canaryBearer, canaryBasic, canaryClientSecret, canaryHeader, canaryAccessToken} {
						if strings.Contains(err.Error(), c) {
							t.Fatalf("the error holds the secret %s: %v", c, err)
						}
					}
				}
				t.Logf("%v (kind %s)", errs[0], sdk.KindOf(errs[0]))
			})
		}
	}
}

// A configuration error never quotes a sensitive value.
func TestSensitiveAttributesAreInNoConfigurationError(t *testing.T) {
	d := sdktest.Connect(t, httpclient.New()).(sdk.ConfigValidator)
	for _, cfg := range []string{
		`{"base_url":"http://h/","proxy":"::` + canaryBasic + `"}`,
		`{"base_url":"http://h/","bearer_token":5,"basic_password":"` + canaryBasic + `"}`,
		`{"base_url":"http://h/","secret_headers":{"X-A":"` + canaryHeader + "\\n" + `"}}`,
		`{"base_url":"http://h/","bearer_token":"` + canaryBearer + `","basic_username":"u","basic_password":"` + canaryBasic + `"}`,
	} {
		err := d.ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "http", Name: "api", Config: json.RawMessage(cfg)})
		if err == nil {
			t.Fatalf("%s was taken", cfg)
		}
		for _, c := range []string{canaryBearer, canaryBasic, canaryHeader} {
			if strings.Contains(err.Error(), c) {
				t.Fatalf("the error holds %s: %v", c, err)
			}
		}
	}
}
