package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// checkDriver's instances pass their check, fail it when their resource
// is named "bad", and hang until the check's context ends when it is
// named "slow".
type checkDriver struct{}

func (checkDriver) Info() DriverInfo {
	return DriverInfo{Name: "check", Version: "1.0.0", Types: []ResourceType{{Name: "check", Pooling: PoolingShared}}}
}

func (checkDriver) Configure(_ context.Context, req ConfigureRequest) (Resource, error) {
	return checkResource(req.Name), nil
}

type checkResource string

func (r checkResource) Open(context.Context) (Instance, error) { return r, nil }
func (r checkResource) Close(context.Context) error            { return nil }
func (r checkResource) Invoke(context.Context, InvokeRequest) (any, error) {
	return nil, nil
}

func (r checkResource) Check(ctx context.Context) error {
	switch r {
	case "bad":
		return Errorf(KindUnavailable, "backend of %s is down", string(r))
	case "slow":
		<-ctx.Done()
		return WrapError(KindTimeout, ctx.Err(), "backend of slow did not answer")
	}
	return nil
}

// noCheckMany is a plugin built on an SDK without CheckMany.
type noCheckMany struct{ *server }

func (noCheckMany) CheckMany(*pb.CheckManyRequest, grpc.ServerStreamingServer[pb.CheckManyResponse]) error {
	return status.Error(codes.Unimplemented, "method CheckMany not implemented")
}

// connectCounting serves checkDriver over real gRPC and returns the host's
// driver and a count of the calls per method.
func connectCounting(t *testing.T, withCheckMany bool) (Driver, *sync.Map) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var calls sync.Map // method → *atomic.Int64
	count := func(method string) {
		n, _ := calls.LoadOrStore(method, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			count(info.FullMethod)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(s any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			count(info.FullMethod)
			return h(s, ss)
		}),
	)
	var impl pb.DriverServiceServer = newServer(checkDriver{})
	if !withCheckMany {
		impl = noCheckMany{impl.(*server)}
	}
	pb.RegisterDriverServiceServer(srv, impl)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		_ = conn.Close()
	})
	d, err := NewRemoteDriver(t.Context(), conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d, &calls
}

func openInstances(t *testing.T, d Driver, names []string) []Instance {
	t.Helper()
	out := make([]Instance, len(names))
	for i, name := range names {
		res, err := d.Configure(t.Context(), ConfigureRequest{Type: "check", Name: name, Config: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = res.Open(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func callsOf(calls *sync.Map, method string) int64 {
	n, ok := calls.Load("/nebula.plugin.v1.DriverService/" + method)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

func items(insts []Instance, timeout time.Duration) []CheckItem {
	out := make([]CheckItem, len(insts))
	for i, inst := range insts {
		out[i] = CheckItem{Instance: inst, Timeout: timeout}
	}
	return out
}

// checkAll checks every instance with CheckAll, as a host's health
// checks that fall due together, and returns each one's error.
func checkAll(ctx context.Context, insts []Instance, timeout time.Duration) []error {
	errs := make([]error, len(insts))
	seen := make([]int, len(insts))
	var mu sync.Mutex
	CheckAll(ctx, items(insts, timeout), func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs[i] = err
		seen[i]++
	})
	for i, n := range seen {
		if n != 1 {
			panic(fmt.Sprintf("CheckAll gave instance %d %d results", i, n))
		}
	}
	return errs
}

func TestCheckAllChecksAPluginsInstancesInOneCallWithEachResultItsOwn(t *testing.T) {
	d, calls := connectCounting(t, true)
	names := make([]string, 200)
	for i := range names {
		names[i] = "ok"
		if i%10 == 3 {
			names[i] = "bad"
		}
	}
	// Instances of a driver in this process go with them, each by its own Check.
	insts := append(openInstances(t, d, names), checkResource("ok"), checkResource("bad"))
	names = append(names, "ok", "bad")
	errs := checkAll(t.Context(), insts, 10*time.Second)
	for i, err := range errs {
		switch {
		case names[i] == "ok" && err != nil:
			t.Fatalf("check %d of a healthy instance: %v", i, err)
		case names[i] == "bad" && (KindOf(err) != KindUnavailable || !strings.Contains(err.Error(), "backend of bad is down")):
			t.Fatalf("check %d of a failing instance: got %v (kind %s)", i, err, KindOf(err))
		}
	}
	if many, single := callsOf(calls, "CheckMany"), callsOf(calls, "Check"); many != 1 || single != 0 {
		t.Fatalf("200 checks of one plugin took %d CheckMany and %d Check calls; want one CheckMany", many, single)
	}
}

func TestASlowCheckHoldsUpNoOtherCheckOfItsCall(t *testing.T) {
	d, _ := connectCounting(t, true)
	names := []string{"slow"}
	for range 50 {
		names = append(names, "ok")
	}
	insts := openInstances(t, d, names)
	var slowDone, fastAfterSlow, fast int
	var mu sync.Mutex
	CheckAll(t.Context(), items(insts, 2*time.Second), func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if i == 0 {
			if KindOf(err) != KindTimeout {
				t.Errorf("the slow check: got %v (kind %s), want a timeout", err, KindOf(err))
			}
			slowDone++
			return
		}
		if err != nil {
			t.Errorf("check %d: %v", i, err)
		}
		fast++
		if slowDone > 0 {
			fastAfterSlow++
		}
	})
	if slowDone != 1 || fast != 50 {
		t.Fatalf("got %d slow and %d fast results, want 1 and 50", slowDone, fast)
	}
	if fastAfterSlow > 0 {
		t.Fatalf("%d healthy checks ended only after the slow one timed out", fastAfterSlow)
	}
}

func TestCheckAllFallsBackToOneCallEachWithoutCheckMany(t *testing.T) {
	d, calls := connectCounting(t, false)
	names := []string{"ok", "bad", "ok", "ok", "bad", "ok"}
	for round := range 3 {
		errs := checkAll(t.Context(), openInstances(t, d, names), 10*time.Second)
		for i, err := range errs {
			if (names[i] == "bad") != (err != nil) {
				t.Fatalf("round %d, check %d (%s): %v", round, i, names[i], err)
			}
		}
	}
	if many := callsOf(calls, "CheckMany"); many != 1 {
		t.Fatalf("CheckMany was tried %d times; after the first Unimplemented the client must stop trying", many)
	}
	if single := callsOf(calls, "Check"); single != int64(3*len(names)) {
		t.Fatalf("%d Check calls for %d checks", single, 3*len(names))
	}
}

func TestCheckAllReturnsAtOnceWhenItsCallerGivesUp(t *testing.T) {
	d, _ := connectCounting(t, true)
	insts := append(openInstances(t, d, []string{"slow", "slow", "ok"}), checkResource("slow"))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	began := time.Now()
	errs := checkAll(ctx, insts, time.Minute)
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("CheckAll returned %v after its caller canceled", took)
	}
	for _, i := range []int{0, 1, 3} {
		if err := errs[i]; !errors.Is(err, context.Canceled) && KindOf(err) != KindCanceled {
			t.Fatalf("slow check %d: got %v (kind %s), want canceled", i, err, KindOf(err))
		}
	}
	if errs[2] != nil {
		t.Fatalf("the healthy check: %v", errs[2])
	}
}

func TestALoneCheckIsACheckCall(t *testing.T) {
	d, calls := connectCounting(t, true)
	inst := openInstances(t, d, []string{"ok"})[0]
	for range 5 {
		if err := inst.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if many, single := callsOf(calls, "CheckMany"), callsOf(calls, "Check"); many != 0 || single != 5 {
		t.Fatalf("5 checks took %d CheckMany and %d Check calls; want 5 Check calls", many, single)
	}
}
