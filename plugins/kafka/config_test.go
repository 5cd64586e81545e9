package kafka_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/plugins/kafka"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// The description is well formed, and each type offers the stream
// capability's operations with the SDK's schemas and idempotency.
func TestInfoOffersTheStreamCapability(t *testing.T) {
	info := kafka.New().Info()
	if err := sdktest.CheckInfo(info); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ     string
		pooling sdk.Pooling
		ops     []sdk.Operation
	}{
		{kafka.ProducerType, sdk.PoolingShared, sdk.StreamProducerOperations()},
		{kafka.ConsumerType, sdk.PoolingExclusive, sdk.StreamConsumerOperations()},
	} {
		typ, ok := info.Type(c.typ)
		if !ok {
			t.Fatalf("no type %q", c.typ)
		}
		if typ.Pooling != c.pooling || !slices.Contains(typ.Capabilities, sdk.CapabilityStream) {
			t.Errorf("%s: pooling %q, capabilities %v", c.typ, typ.Pooling, typ.Capabilities)
		}
		for _, want := range c.ops {
			got, ok := typ.Operation(want.Name)
			if !ok {
				t.Errorf("%s lacks %s", c.typ, want.Name)
				continue
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("%s %s differs from the SDK's:\n%s\n%s", c.typ, want.Name, g, w)
			}
		}
	}
	for _, op := range append(sdk.StreamProducerOperations(), sdk.StreamConsumerOperations()...) {
		idem := op.Name == "commit" || op.Name == "seek" || op.Name == "lag"
		if op.Idempotent != idem || op.Description == "" {
			t.Errorf("%s: idempotent %v, description %q", op.Name, op.Idempotent, op.Description)
		}
	}
	// The producer also administers topics: listing and describing are
	// idempotent, creating and deleting are not (a retry after a lost
	// answer would report already_exists or not_found).
	producer, _ := info.Type(kafka.ProducerType)
	for name, idem := range map[string]bool{"create_topic": false, "delete_topic": false, "list_topics": true, "describe_topic": true} {
		op, ok := producer.Operation(name)
		if !ok || op.Idempotent != idem || op.Description == "" {
			t.Errorf("%s: offered %v, idempotent %v (want %v), description %q", name, ok, op.Idempotent, idem, op.Description)
		}
	}
	if a, ok := info.Types[0].Config.Attribute("sasl_password"); !ok || !a.Sensitive {
		t.Error("sasl_password is not sensitive")
	}
}

// The SDK's argument structs decode with their defaults.
func TestStreamArgumentDefaults(t *testing.T) {
	var p sdk.StreamProduceArgs
	if err := sdk.Decode([]byte(`{"topic":"t","value":"v"}`), &p); err != nil || p.Partition != -1 || p.Key != "" {
		t.Fatalf("produce args: %+v, %v", p, err)
	}
	var b sdk.StreamProduceBatchArgs
	if err := sdk.Decode([]byte(`{"topic":"t","values":["a"]}`), &b); err != nil || b.Partition != -1 || len(b.Keys) != 0 {
		t.Fatalf("produce_batch args: %+v, %v", b, err)
	}
	var poll sdk.StreamPollArgs
	if err := sdk.Decode([]byte(`{}`), &poll); err != nil || poll.MaxRecords != 100 || poll.Timeout != time.Second {
		t.Fatalf("poll args: %+v, %v", poll, err)
	}
	var s sdk.StreamSeekArgs
	if err := sdk.Decode([]byte(`{"topic":"t","partition":0}`), &s); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("seek without offset: %v", err)
	}
}

// ValidateConfig accepts good configurations and points at the attribute
// of each bad one; it never quotes the SASL password.
func TestValidateConfig(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "hunter2-very-secret"
	cases := []struct {
		name, typ, config string
		attr              string // the attribute of the config error; "" for an invalid_argument error
	}{
		{"producer defaults", "kafka", `{"brokers":["b:9092"]}`, "-"},
		{"producer full", "kafka", `{"brokers":["b:9092"],"client_id":"x","acks":"leader","idempotent":false,"linger":"5ms","batch_max_bytes":65536,"compression":"lz4","partitioner":"round_robin","delivery_timeout":"1m","sasl_mechanism":"scram-sha-512","sasl_username":"u","sasl_password":"` + secret + `","tls":true,"tls_server_name":"kafka","tls_insecure_skip_verify":true}`, "-"},
		{"producer auto create", "kafka", `{"brokers":["b:9092"],"auto_create_topics":true,"auto_create_partitions":6,"auto_create_replication_factor":3}`, "-"},
		{"consumer defaults", "kafka_consumer", `{"brokers":["b:9092"],"group":"g","topics":["t"]}`, "-"},
		{"consumer auto", "kafka_consumer", `{"brokers":["b:9092"],"group":"g","topics":["t","u"],"start_offset":"latest","commit":"auto","auto_commit_interval":"1s","session_timeout":"10s"}`, "-"},

		{"idempotent needs acks all", "kafka", `{"brokers":["b"],"acks":"leader"}`, "idempotent"},
		{"idempotent needs acks all (none)", "kafka", `{"brokers":["b"],"acks":"none","idempotent":true}`, "idempotent"},
		{"unknown acks", "kafka", `{"brokers":["b"],"acks":"some"}`, "acks"},
		{"unknown compression", "kafka", `{"brokers":["b"],"compression":"brotli"}`, "compression"},
		{"unknown partitioner", "kafka", `{"brokers":["b"],"partitioner":"random"}`, "partitioner"},
		{"batch too small", "kafka", `{"brokers":["b"],"batch_max_bytes":10}`, "batch_max_bytes"},
		{"negative linger", "kafka", `{"brokers":["b"],"linger":"-1s"}`, "linger"},
		{"auto create partitions zero", "kafka", `{"brokers":["b"],"auto_create_topics":true,"auto_create_partitions":0}`, "auto_create_partitions"},
		{"auto create replication factor negative", "kafka", `{"brokers":["b"],"auto_create_topics":true,"auto_create_replication_factor":-3}`, "auto_create_replication_factor"},
		{"auto create partitions without auto create", "kafka", `{"brokers":["b"],"auto_create_partitions":6}`, "auto_create_partitions"},
		{"auto create replication factor without auto create", "kafka", `{"brokers":["b"],"auto_create_replication_factor":3}`, "auto_create_replication_factor"},
		{"auto create replication factor out of range", "kafka", `{"brokers":["b"],"auto_create_topics":true,"auto_create_replication_factor":40000}`, ""},
		{"no brokers", "kafka", `{"brokers":[]}`, "brokers"},
		{"brokers in one string", "kafka", `{"brokers":["a:9092,b:9092"]}`, "brokers"},
		{"unknown sasl mechanism", "kafka", `{"brokers":["b"],"sasl_mechanism":"gssapi","sasl_username":"u","sasl_password":"` + secret + `"}`, "sasl_mechanism"},
		{"sasl without password", "kafka", `{"brokers":["b"],"sasl_mechanism":"plain","sasl_username":"u"}`, "sasl_password"},
		{"sasl without user", "kafka", `{"brokers":["b"],"sasl_mechanism":"plain","sasl_password":"` + secret + `"}`, "sasl_username"},
		{"credentials without mechanism", "kafka", `{"brokers":["b"],"sasl_username":"u","sasl_password":"` + secret + `"}`, "sasl_mechanism"},
		{"tls setting without tls", "kafka", `{"brokers":["b"],"tls_server_name":"x"}`, "tls_server_name"},
		{"ca file not PEM", "kafka", `{"brokers":["b"],"tls":true,"tls_ca_file":"` + ca + `"}`, "tls_ca_file"},
		{"ca file missing", "kafka", `{"brokers":["b"],"tls":true,"tls_ca_file":"/nonexistent/ca.pem"}`, "tls_ca_file"},
		{"empty group", "kafka_consumer", `{"brokers":["b"],"group":" ","topics":["t"]}`, "group"},
		{"no topics", "kafka_consumer", `{"brokers":["b"],"group":"g","topics":[]}`, "topics"},
		{"topic twice", "kafka_consumer", `{"brokers":["b"],"group":"g","topics":["t","t"]}`, "topics"},
		{"unknown start offset", "kafka_consumer", `{"brokers":["b"],"group":"g","topics":["t"],"start_offset":"middle"}`, "start_offset"},
		{"unknown commit mode", "kafka_consumer", `{"brokers":["b"],"group":"g","topics":["t"],"commit":"sometimes"}`, "commit"},
		{"zero session timeout", "kafka_consumer", `{"brokers":["b"],"group":"g","topics":["t"],"session_timeout":"0s"}`, "session_timeout"},

		{"group is required", "kafka_consumer", `{"brokers":["b"],"topics":["t"]}`, ""},
		{"brokers are required", "kafka", `{}`, ""},
		{"producer setting on the consumer", "kafka_consumer", `{"brokers":["b"],"group":"g","topics":["t"],"acks":"all"}`, ""},
		{"consumer setting on the producer", "kafka", `{"brokers":["b"],"group":"g"}`, ""},
		{"password of the wrong type", "kafka", `{"brokers":["b"],"sasl_password":12345}`, ""},
		{"unknown type", "kafka_admin", `{"brokers":["b"]}`, ""},
	}
	d := kafka.New()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: c.typ, Name: "x", Config: json.RawMessage(c.config)})
			if strings.Contains(errText(err), secret) || strings.Contains(errText(err), "12345") {
				t.Fatalf("the error quotes the password: %v", err)
			}
			switch c.attr {
			case "-":
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				// Configure accepts it too, without connecting.
				res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: c.typ, Name: "x", Config: json.RawMessage(c.config)})
				if err != nil {
					t.Fatalf("Configure: %v", err)
				}
				_ = res.Close(t.Context())
			case "":
				wantKind(t, err, sdk.KindInvalidArgument)
			default:
				var ce *sdk.ConfigError
				if !errors.As(err, &ce) || ce.Attribute != c.attr {
					t.Fatalf("want a config error at %q, got %v", c.attr, err)
				}
				// Configure refuses it as well.
				if _, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: c.typ, Name: "x", Config: json.RawMessage(c.config)}); err == nil {
					t.Fatal("Configure accepted what ValidateConfig refused")
				}
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
