package grpcclient_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/nebula-resource/nebula-resource/plugins/grpcclient"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient/grpctest"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// echoRequest has a field of each kind the demo messages have: string,
// int32, repeated, int64 beyond a double's precision, nested message.
const echoRequest = `{"text":"héllo \"world\"","count":3,"tags":["a","b"],"big":"9007199254740993","inner":{"name":"n"}}`

// A method known only through reflection takes JSON and answers JSON,
// exactly; the resource's metadata and the call's reach the server.
func TestInvokeCallsAMethodKnownOnlyByReflection(t *testing.T) {
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, map[string]any{"metadata": map[string]string{"x-tenant": "acme"}}))

	res := must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo"), "request": json.RawMessage(echoRequest)})
	want := strings.Replace(echoRequest, `\"world\""`, `\"world\"/acme"`, 1)
	if string(res.Response) != want {
		t.Errorf("Echo answered\n%s\nwant\n%s", res.Response, want)
	}

	// The other spellings of the method, and the call's metadata.
	for _, m := range []string{"/" + demoMethod("Echo"), grpctest.ServiceName + ".Echo"} {
		res = must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": m, "request": json.RawMessage(`{"text":"x"}`), "metadata": map[string]string{"X-Tenant": "globex"}})
		if string(res.Response) != `{"text":"x/globex"}` {
			t.Errorf("%s answered %s", m, res.Response)
		}
	}

	// Fields at their zero value are left out, unless asked for.
	res = must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo"), "metadata": map[string]string{"x-tenant": ""}})
	if string(res.Response) != `{}` {
		t.Errorf("an empty request answered %s, want {}", res.Response)
	}
	res = must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo"), "emit_unpopulated": true, "metadata": map[string]string{"x-tenant": ""}})
	if string(res.Response) != `{"text":"","count":0,"tags":[],"big":"0","inner":null}` {
		t.Errorf("emit_unpopulated answered %s", res.Response)
	}

	// Header and trailer metadata.
	res = must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Headers"), "request": json.RawMessage(`{"text":"h"}`)})
	if got := res.Header["x-echo"]; len(got) != 1 || got[0] != "h" {
		t.Errorf("header %v, want x-echo: h", res.Header)
	}
	if got := res.Trailer["x-done"]; len(got) != 1 || got[0] != "yes" {
		t.Errorf("trailer %v, want x-done: yes", res.Trailer)
	}
}

// A server-streaming call writes each message as one line, in order.
func TestServerStreamWritesOneLinePerMessageInOrder(t *testing.T) {
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, nil))
	const n = 10_000
	var out bytes.Buffer
	res, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "server_stream", Args: json.RawMessage(fmt.Sprintf(`{"method":%q,"request":{"count":%d,"text":"t"}}`, demoMethod("Count"), n))}, strings.NewReader(""), &out)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	seq := 0
	for sc.Scan() {
		seq++
		if want := fmt.Sprintf(`{"seq":"%d","text":"t"}`, seq); sc.Text() != want {
			t.Fatalf("line %d is %s, want %s", seq, sc.Text(), want)
		}
	}
	if seq != n {
		t.Fatalf("%d lines, want %d", seq, n)
	}
	raw, _ := json.Marshal(res)
	var r grpcclient.StreamResult
	if err := json.Unmarshal(raw, &r); err != nil || r.Messages != n {
		t.Fatalf("result %s (%v), want %d messages", raw, err, n)
	}
	t.Logf("%d messages in order", seq)
}

// A client-streaming call sends each JSON object of the input.
func TestClientStreamSendsEachInputMessage(t *testing.T) {
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, nil))
	var in strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&in, "{\"seq\":%d}\n", i)
	}
	res, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "client_stream", Args: json.RawMessage(`{"method":"` + demoMethod("Sum") + `"}`)}, strings.NewReader(in.String()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(res)
	var r grpcclient.ClientStreamResult
	if err := json.Unmarshal(raw, &r); err != nil || r.Sent != 100 || string(r.Response) != `{"total":"5050","messages":100}` {
		t.Fatalf("client_stream answered %s (%v)", raw, err)
	}

	// A line that is not a Seq is the caller's mistake, named by number.
	_, err = inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "client_stream", Args: json.RawMessage(`{"method":"` + demoMethod("Sum") + `"}`)}, strings.NewReader("{\"seq\":1}\n{\"sequence\":2}\n"), io.Discard)
	if sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), "input message 2") || !strings.Contains(err.Error(), "sequence") {
		t.Fatalf("a bad input line: %v (kind %s), want invalid_argument naming input message 2 and the field", err, sdk.KindOf(err))
	}
}

// A bidirectional call echoes each input line as an output line.
func TestBidiStreamEchoesEachMessage(t *testing.T) {
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, nil))
	in := "{\"seq\":1,\"text\":\"a\"}\n{\"seq\":2,\"text\":\"b\"}\n{\"seq\":3}\n"
	var out bytes.Buffer
	res, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "bidi_stream", Args: json.RawMessage(`{"method":"` + demoMethod("Chat") + `"}`)}, strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"seq\":\"1\",\"text\":\"a\"}\n{\"seq\":\"2\",\"text\":\"b\"}\n{\"seq\":\"3\"}\n"; out.String() != want {
		t.Fatalf("bidi_stream wrote\n%s\nwant\n%s", out.String(), want)
	}
	raw, _ := json.Marshal(res)
	if string(raw) != `{"messages":3,"sent":3,"header":{"content-type":["application/grpc"]}}` {
		t.Fatalf("bidi_stream result %s", raw)
	}
}

// list_services and describe say what the server offers and how to call
// it.
func TestListServicesAndDescribe(t *testing.T) {
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, nil))
	list := must[grpcclient.ListServicesResult](t, inst, "list_services", map[string]any{})
	var demo *grpcclient.ServiceInfo
	var names []string
	for i, svc := range list.Services {
		names = append(names, svc.Name)
		if svc.Name == grpctest.ServiceName {
			demo = &list.Services[i]
		}
	}
	if strings.Join(names, " ") != "grpc.health.v1.Health grpc.reflection.v1.ServerReflection grpc.reflection.v1alpha.ServerReflection nebula.demo.v1.Demo" {
		t.Errorf("services %v", names)
	}
	if demo == nil {
		t.Fatal("the demo service is not listed")
	}
	got, _ := json.Marshal(demo.Methods)
	want := `[{"name":"nebula.demo.v1.Demo/Echo","input_type":"nebula.demo.v1.EchoRequest","output_type":"nebula.demo.v1.EchoReply","client_streaming":false,"server_streaming":false,"operation":"invoke"},` +
		`{"name":"nebula.demo.v1.Demo/Fail","input_type":"nebula.demo.v1.FailRequest","output_type":"nebula.demo.v1.EchoReply","client_streaming":false,"server_streaming":false,"operation":"invoke"},` +
		`{"name":"nebula.demo.v1.Demo/Headers","input_type":"nebula.demo.v1.EchoRequest","output_type":"nebula.demo.v1.EchoReply","client_streaming":false,"server_streaming":false,"operation":"invoke"},` +
		`{"name":"nebula.demo.v1.Demo/Count","input_type":"nebula.demo.v1.CountRequest","output_type":"nebula.demo.v1.Seq","client_streaming":false,"server_streaming":true,"operation":"server_stream"},` +
		`{"name":"nebula.demo.v1.Demo/Sum","input_type":"nebula.demo.v1.Seq","output_type":"nebula.demo.v1.SumReply","client_streaming":true,"server_streaming":false,"operation":"client_stream"},` +
		`{"name":"nebula.demo.v1.Demo/Chat","input_type":"nebula.demo.v1.Seq","output_type":"nebula.demo.v1.Seq","client_streaming":true,"server_streaming":true,"operation":"bidi_stream"}]`
	if string(got) != want {
		t.Errorf("methods\n%s\nwant\n%s", got, want)
	}

	d := must[grpcclient.DescribeResult](t, inst, "describe", map[string]any{"symbol": demoMethod("Count")})
	got, _ = json.Marshal(d)
	want = `{"kind":"method","name":"nebula.demo.v1.Demo/Count","file":"nebula/demo/v1/demo.proto",` +
		`"method":{"name":"nebula.demo.v1.Demo/Count","input_type":"nebula.demo.v1.CountRequest","output_type":"nebula.demo.v1.Seq","client_streaming":false,"server_streaming":true,"operation":"server_stream"},` +
		`"message":[{"name":"count","json_name":"count","number":1,"type":"int32"},{"name":"text","json_name":"text","number":2,"type":"string"}]}`
	if string(got) != want {
		t.Errorf("describe\n%s\nwant\n%s", got, want)
	}
	d = must[grpcclient.DescribeResult](t, inst, "describe", map[string]any{"symbol": "nebula.demo.v1.EchoRequest"})
	if d.Kind != "message" || len(d.Message) != 5 || d.Message[4].Type != "nebula.demo.v1.Inner" || !d.Message[2].Repeated {
		t.Errorf("describe of a message: %+v", d)
	}
}

// A server with only grpc.reflection.v1alpha, a server without
// reflection given a descriptor set file, and one without either.
func TestTheTypesComeFromV1AlphaOrADescriptorSet(t *testing.T) {
	call := func(t *testing.T, cfg json.RawMessage) {
		t.Helper()
		inst := open(t, cfg)
		res := must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo"), "request": json.RawMessage(`{"count":7}`)})
		if string(res.Response) != `{"count":7}` {
			t.Fatalf("Echo answered %s", res.Response)
		}
	}
	t.Run("v1alpha", func(t *testing.T) {
		s := startServer(t, grpctest.Options{OnlyV1Alpha: true})
		call(t, config(t, s.Addr, nil))
	})
	t.Run("descriptor set", func(t *testing.T) {
		s := startServer(t, grpctest.Options{NoReflection: true})
		set, err := grpctest.DescriptorSet()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "demo.binpb")
		writeFile(t, path, set)
		call(t, config(t, s.Addr, map[string]any{"descriptor_set_file": path}))
		inst := open(t, config(t, s.Addr, map[string]any{"descriptor_set_file": path}))
		list := must[grpcclient.ListServicesResult](t, inst, "list_services", map[string]any{})
		if len(list.Services) != 1 || list.Services[0].Name != grpctest.ServiceName || len(list.Services[0].Methods) != 6 {
			t.Errorf("list_services from the set: %+v", list)
		}
	})
	t.Run("neither", func(t *testing.T) {
		s := startServer(t, grpctest.Options{NoReflection: true})
		inst := open(t, config(t, s.Addr, nil))
		_, err := invoke[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo")})
		if sdk.KindOf(err) != sdk.KindFailedPrecondition || !strings.Contains(err.Error(), "descriptor_set_file") {
			t.Fatalf("no reflection: %v (kind %s), want failed_precondition that says to set descriptor_set_file", err, sdk.KindOf(err))
		}
	})
}

// The target may be a unix socket, and calls may be balanced round
// robin.
func TestUnixSocketTargetAndRoundRobin(t *testing.T) {
	dir, err := shortTempDir(t)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("unix", filepath.Join(dir, "demo.sock"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := grpctest.Start(lis, grpctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	inst := open(t, config(t, "unix:"+filepath.Join(dir, "demo.sock"), map[string]any{"load_balancing": "round_robin"}))
	res := must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo"), "request": json.RawMessage(`{"text":"over unix"}`)})
	if string(res.Response) != `{"text":"over unix"}` {
		t.Fatalf("Echo answered %s", res.Response)
	}
}

// An instance asks reflection once for a service's file and caches its
// methods; a method it does not know makes it ask once more (the server
// may have been upgraded) before it refuses the call.
func TestMethodsAreCachedAndAnUnknownOneIsAskedForOnce(t *testing.T) {
	var mu sync.Mutex
	asked := 0
	count := grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if strings.HasPrefix(info.FullMethod, "/grpc.reflection.") {
			mu.Lock()
			asked++
			mu.Unlock()
		}
		return h(srv, ss)
	})
	reflectionStreams := func() int {
		mu.Lock()
		defer mu.Unlock()
		return asked
	}
	s := startServer(t, grpctest.Options{ServerOptions: []grpc.ServerOption{count}})
	inst := open(t, config(t, s.Addr, nil))
	for range 3 {
		must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo")})
	}
	must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Headers")})
	if n := reflectionStreams(); n != 1 {
		t.Fatalf("%d reflection streams for four calls of one service, want 1", n)
	}
	_, err := invoke[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Added")})
	if sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), `no method "Added"`) {
		t.Fatalf("an unknown method: %v", err)
	}
	if n := reflectionStreams(); n != 2 {
		t.Fatalf("%d reflection streams after an unknown method, want 2 (asked once more)", n)
	}
	must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo")})
	if n := reflectionStreams(); n != 2 {
		t.Fatalf("%d reflection streams after a known method again, want 2", n)
	}
}
