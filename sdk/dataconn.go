package sdk

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/nebula-resource/nebula-resource/sdk/internal/mux"
	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// dataConnFDEnv names the descriptor of the plugin's end of the data
// connection.
const dataConnFDEnv = "NEBULA_PLUGIN_DATA_FD"

// DataConn is the data connection of one plugin start, on the host's
// side. Make one with NewDataConn per start, give the plugin's command to
// Prepare, offer protocol version 2 beside 1 in the handshake, hand it to
// NewRemoteDriver when the plugin took version 2, and Close it once the
// plugin has exited.
type DataConn struct {
	host, plugin *os.File
	maxMsg       int

	// urls downloads the gets of blob types with CapabilityBlobURLGet;
	// Close ends its idle connections.
	urls *urlGetter

	mu     sync.Mutex
	client *mux.Client
}

// NewDataConn makes the socket pair. maxMessageSize is the host's
// max_message_size (zero means DefaultMaxMessageSize). On a platform
// without socket pairs it returns nil, and the host and plugin speak
// protocol version 1.
func NewDataConn(maxMessageSize int) (*DataConn, error) {
	if !mux.Supported {
		return nil, nil
	}
	h, p, err := mux.SocketPair()
	if err != nil {
		return nil, err
	}
	return &DataConn{host: h, plugin: p, maxMsg: messageLimit(maxMessageSize), urls: newURLGetter()}, nil
}

// Prepare hands the plugin its end: a descriptor added to cmd.ExtraFiles,
// named in cmd.Env. The caller closes cmd.ExtraFiles in this process once
// cmd has started, as it does for PluginTLS.
func (c *DataConn) Prepare(cmd *exec.Cmd) {
	if c == nil {
		return
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, c.plugin)
	fd := 2 + len(cmd.ExtraFiles) // ExtraFiles[i] is descriptor 3+i
	cmd.Env = append(cmd.Env, dataConnFDEnv+"="+strconv.Itoa(fd))
}

// dial starts the host's end. It is called once, when NewRemoteDriver
// makes the driver of protocol version 2.
func (c *DataConn) dial() (*mux.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	if c.host == nil {
		return nil, fmt.Errorf("the plugin's data connection is closed")
	}
	nc, err := mux.FileConn(c.host)
	c.host = nil
	if err != nil {
		return nil, fmt.Errorf("the plugin's data connection: %w", err)
	}
	c.client = mux.NewClient(nc, mux.ClientOptions{
		MaxMessageSize:    c.maxMsg,
		UnaryInterceptor:  injectUnary,
		StreamInterceptor: injectStream,
	})
	return c.client, nil
}

// Close closes the host's end and waits for its reader. Calls still in
// flight fail as unavailable.
func (c *DataConn) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.host != nil {
		_ = c.host.Close()
		c.host = nil
	}
	if c.client != nil {
		_ = c.client.Close()
	}
	c.urls.close()
	return nil
}

// messageLimit is the most bytes a message between the host and a plugin
// may take: max_message_size and room for the rest.
func messageLimit(maxMessageSize int) int {
	if maxMessageSize <= 0 {
		maxMessageSize = DefaultMaxMessageSize
	}
	return maxMessageSize + messageOverhead
}

// dataConnFrom returns the plugin's end of the data connection the host
// handed it, or nil when it handed none (a host that speaks only protocol
// version 1).
func dataConnFrom(getenv func(string) string) (net.Conn, error) {
	fdText := getenv(dataConnFDEnv)
	if fdText == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not a descriptor the host passed", dataConnFDEnv, fdText)
	}
	f := os.NewFile(uintptr(fd), "nebula-plugin-data")
	if f == nil {
		return nil, fmt.Errorf("%s=%d: no such descriptor", dataConnFDEnv, fd)
	}
	nc, err := mux.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("%s=%d: %w", dataConnFDEnv, fd, err)
	}
	return nc, nil
}

// newDataServer returns the plugin's side of the data connection for
// srv: the same services as on gRPC, with the same interceptors.
func newDataServer(srv *server, maxMessageSize int) *mux.Server {
	ms := mux.NewServer(mux.ServerOptions{
		MaxMessageSize:    messageLimit(maxMessageSize),
		UnaryInterceptor:  extractUnary,
		StreamInterceptor: extractStream,
	})
	pb.RegisterDriverServiceServer(ms, dataService{srv})
	pb.RegisterSQLServiceServer(ms, &sqlServer{s: srv})
	return ms
}

// ServeInProcess serves d on the plugin's end of a data connection made
// in this process, and returns a stop function: the in-process form of a
// plugin of protocol version 2, for tests of the transport
// (sdktest.Connect uses it). stop closes both ends and waits for the
// server.
func (c *DataConn) ServeInProcess(d Driver) (stop func(), err error) {
	nc, err := mux.FileConn(c.plugin)
	c.plugin = nil
	if err != nil {
		return nil, err
	}
	ms := newDataServer(newServer(d), 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ms.Serve(ctx, nc)
	}()
	return func() {
		cancel()
		<-done
		_ = c.Close()
	}, nil
}
