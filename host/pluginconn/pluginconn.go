// Package pluginconn is the host's go-plugin glue: the handshake and the
// versioned plugin sets with which go-plugin's client runs a plugin and
// dispenses its driver. The plugin's side of the handshake is the SDK's
// own (sdk.Serve), so that a plugin needs neither go-plugin nor go-hclog;
// it speaks go-plugin's wire protocol, so go-plugin stays the host's
// launcher, for plugins built on every SDK release as for plugins served
// with go-plugin itself.
package pluginconn

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Handshake is the go-plugin handshake between the host and a plugin: the
// SDK's magic cookie and its newest protocol version.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  sdk.ProtocolVersion,
	MagicCookieKey:   sdk.MagicCookieKey,
	MagicCookieValue: sdk.MagicCookieValue,
}

// PluginSets returns the go-plugin VersionedPlugins the host offers:
// version 2 on the data connection data, and version 1 for a plugin that
// serves only that. data may be nil (no data connection, as on a platform
// without socket pairs): then only version 1.
func PluginSets(data *sdk.DataConn) map[int]plugin.PluginSet {
	sets := map[int]plugin.PluginSet{1: {sdk.PluginName: &GRPCPlugin{}}}
	if data != nil {
		sets[2] = plugin.PluginSet{sdk.PluginName: &GRPCPlugin{data: data}}
	}
	return sets
}

// GRPCPlugin is a plugin's driver as a go-plugin GRPCPlugin. On the host's
// side (PluginSets) it dispenses an sdk.Driver whose calls go to the
// plugin; on a plugin's side it serves Driver on go-plugin's own server,
// speaking protocol version 1: what a plugin not built on sdk.Serve does.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Driver is served on the plugin's side; it is nil on the host's.
	Driver sdk.Driver
	// Protocol is the version the plugin's side describes itself as
	// speaking (1 when zero). go-plugin's server serves gRPC alone, which
	// is version 1; a plugin that says 2 without a data connection is one
	// the host refuses.
	Protocol int

	// data is the host's data connection, for protocol version 2; nil
	// for version 1.
	data *sdk.DataConn
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the driver's services. It is called in the plugin.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Driver == nil {
		return errors.New("pluginconn: GRPCPlugin.Driver is nil")
	}
	sdk.RegisterDriver(s, p.Driver, p.Protocol)
	return nil
}

// GRPCClient returns the sdk.Driver of the plugin on conn (see
// sdk.NewRemoteDriver). It is called in the host when go-plugin
// dispenses the plugin set of the version it agreed on.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return sdk.NewRemoteDriver(ctx, conn, p.data)
}
