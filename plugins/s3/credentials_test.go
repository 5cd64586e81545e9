package s3_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/s3"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// These tests set the process's environment (t.Setenv), which the AWS SDK
// reads when a resource is configured: none of them may run in parallel.

// isolateAWS gives the test an AWS environment of its own: no keys, no
// profile, shared files that do not exist, no instance metadata service.
func isolateAWS(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_STS": "", "AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	} {
		t.Setenv(k, v)
	}
}

// noKeys is a config's attributes without the static keys.
func noKeys(more map[string]any) map[string]any {
	out := map[string]any{"access_key_id": "", "secret_access_key": ""}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// roundTrip puts an object through inst and gets it back.
func roundTrip(t *testing.T, inst *sdktest.Instance) {
	t.Helper()
	data := make([]byte, 1000)
	_, _ = rand.Read(data)
	if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(`{"key":"creds"}`)}, bytes.NewReader(data), nil); err != nil {
		t.Fatalf("put: %v", err)
	}
	var got bytes.Buffer
	if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"creds"}`)}, nil, &got); err != nil {
		t.Fatalf("get: %v", err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("get brought %d bytes that differ from the %d put", got.Len(), len(data))
	}
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A profile of the shared files gives the credentials; keys in the
// environment do not override the profile the configuration names.
func TestS3CredentialsFromASharedConfigProfile(t *testing.T) {
	isolateAWS(t)
	s, bucket := newBucket(t)
	writeFile(t, os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), "[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n"+
		"[thatprofile]\naws_access_key_id = "+s.access+"\naws_secret_access_key = "+s.secret+"\n")
	writeFile(t, os.Getenv("AWS_CONFIG_FILE"), "[profile thatprofile]\nregion = "+s.region+"\n")
	t.Setenv("AWS_ACCESS_KEY_ID", "not-the-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")

	inst := sdktest.Open(t, sdktest.Connect(t, s3.New()), sdk.ConfigureRequest{Type: "s3", Name: "profile",
		Config: json.RawMessage(config(s, bucket, noKeys(map[string]any{"profile": "thatprofile"})))})
	roundTrip(t, inst)
}

func TestS3UnknownProfileIsAnErrorNamingIt(t *testing.T) {
	isolateAWS(t)
	s, bucket := newBucket(t)
	writeFile(t, os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), "[thatprofile]\naws_access_key_id = "+s.access+"\naws_secret_access_key = "+s.secret+"\n")

	d := sdktest.Connect(t, s3.New())
	res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "s3", Name: "profile",
		Config: json.RawMessage(config(s, bucket, noKeys(map[string]any{"profile": "nosuchprofile"})))})
	if err == nil {
		_ = res.Close(t.Context())
		t.Fatal("a resource with a profile that is in no file was configured")
	}
	if sdk.KindOf(err) != sdk.KindFailedPrecondition || !strings.Contains(err.Error(), `profile "nosuchprofile"`) {
		t.Errorf("unknown profile: %v (kind %s), want failed_precondition naming the profile", err, sdk.KindOf(err))
	}
	if strings.Contains(err.Error(), s.secret) {
		t.Errorf("the error holds a secret: %v", err)
	}
}

// With no static keys and no profile, the default chain finds the keys
// in the environment.
func TestS3CredentialsFromTheEnvironment(t *testing.T) {
	isolateAWS(t)
	s, bucket := newBucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s.access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.secret)
	inst := sdktest.Open(t, sdktest.Connect(t, s3.New()), sdk.ConfigureRequest{Type: "s3", Name: "env",
		Config: json.RawMessage(config(s, bucket, noKeys(nil)))})
	roundTrip(t, inst)
}

// There is no STS here: a role_arn configures, and the first call fails
// typed, with an error that names the role and holds no secret. STS is a
// closed port (AWS_ENDPOINT_URL_STS): unavailable, as when AWS's STS is
// out of reach; a refusal of AWS's STS is its error code's kind
// (AccessDenied: permission_denied), as any S3 error code's.
func TestS3RoleThatCannotBeAssumedFailsTypedAndNamesTheRole(t *testing.T) {
	isolateAWS(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_STS", "http://"+l.Addr().String())
	_ = l.Close()
	const role = "arn:aws:iam::123456789012:role/nebula-test-role"
	s, bucket := newBucket(t)
	inst := sdktest.Open(t, sdktest.Connect(t, s3.New()), sdk.ConfigureRequest{Type: "s3", Name: "role",
		Config: json.RawMessage(config(s, bucket, map[string]any{"role_arn": role, "external_id": "nebula-external-id", "abort_incomplete_after": "0s"}))})
	_, err = inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: "stat", Args: json.RawMessage(`{"key":"x"}`)})
	t.Logf("stat: %v", err)
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("stat with a role whose STS is out of reach: %v (kind %s), want unavailable", err, sdk.KindOf(err))
	}
	if err != nil && (!strings.Contains(err.Error(), "assuming role "+role) || strings.Contains(err.Error(), s.secret)) {
		t.Errorf("the error does not name the role, or holds the secret: %v", err)
	}
}

// With no credentials anywhere, a call is unauthenticated, and says where
// credentials were looked for.
func TestS3NoCredentialsAnywhereIsUnauthenticated(t *testing.T) {
	isolateAWS(t)
	s, bucket := newBucket(t)
	inst := sdktest.Open(t, sdktest.Connect(t, s3.New()), sdk.ConfigureRequest{Type: "s3", Name: "none",
		Config: json.RawMessage(config(s, bucket, noKeys(map[string]any{"abort_incomplete_after": "0s"})))})
	_, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: "stat", Args: json.RawMessage(`{"key":"x"}`)})
	t.Logf("stat: %v", err)
	if sdk.KindOf(err) != sdk.KindUnauthenticated || !strings.Contains(fmt.Sprint(err), "the default chain") {
		t.Errorf("stat without credentials: %v (kind %s), want unauthenticated naming the default chain", err, sdk.KindOf(err))
	}
}

func TestS3CredentialMistakesAreRefused(t *testing.T) {
	d := s3.New()
	const role = `"role_arn":"arn:aws:iam::123456789012:role/r"`
	for cfg, attribute := range map[string]string{
		`{"bucket":"b","profile":"p","access_key_id":"a","secret_access_key":"s"}`: "profile",
		`{"bucket":"b","profile":"[p]"}`:                                           "profile",
		`{"bucket":"b","role_arn":"nebula-test-role"}`:                             "role_arn",
		`{"bucket":"b","role_arn":"arn:aws:iam::123456789012:user/u"}`:             "role_arn",
		`{"bucket":"b","role_session_name":"s1"}`:                                  "role_session_name",
		`{"bucket":"b","external_id":"e1"}`:                                        "external_id",
		`{"bucket":"b",` + role + `,"role_session_name":"has space"}`:              "role_session_name",
		`{"bucket":"b",` + role + `,"role_session_name":"x"}`:                      "role_session_name",
		`{"bucket":"b",` + role + `,"external_id":"x"}`:                            "external_id",
	} {
		err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "s3", Config: json.RawMessage(cfg)})
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Attribute != attribute {
			t.Errorf("config %s: %v, want an error about %s", cfg, err, attribute)
		}
	}
	for _, cfg := range []string{
		`{"bucket":"b","profile":"p"}`,
		`{"bucket":"b","profile":"p",` + role + `}`,
		`{"bucket":"b","access_key_id":"a","secret_access_key":"s",` + role + `,"role_session_name":"nebula@host.example","external_id":"a:b/c"}`,
	} {
		if err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "s3", Config: json.RawMessage(cfg)}); err != nil {
			t.Errorf("config %s was refused: %v", cfg, err)
		}
	}
}
