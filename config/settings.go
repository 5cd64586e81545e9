package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Defaults of the host's own settings.
const (
	defaultAdminAddress    = "127.0.0.1:9464"
	defaultShutdownTimeout = 30 * time.Second
	defaultLogLevel        = "info"
	defaultLogFormat       = "text"
	defaultMaxMessageSize  = 16 << 20 // sdk.DefaultMaxMessageSize
	// maxMaxMessageSize is the most max_message_size may be: gRPC counts
	// a message's size in an int32.
	maxMaxMessageSize = 1 << 30
)

var adminSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "address"},
		{Name: "allow_remote"},
		{Name: "allowed_hosts"},
		{Name: "allowed_origins"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "tls"},
		{Type: "identity", LabelNames: []string{"name"}},
		{Type: "audit"},
	},
}

var hostSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "shutdown_timeout"},
		{Name: "plugin_dir"},
		{Name: "log_level"},
		{Name: "log_format"},
		{Name: "log_levels"},
		{Name: "max_message_size"},
		{Name: "quota_store"},
	},
}

var pluginSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "path", Required: true},
		{Name: "sha256"},
		{Name: "args"},
		{Name: "env"},
		{Name: "start_timeout"},
		{Name: "restart_reset_after"},
		{Name: "allow_world_writable"},
	},
}

// decodeAdmin decodes an admin block into a: its attributes, and its tls,
// identity and audit blocks into a.Auth (see decodeAdminAuth).
func decodeAdmin(block *hcl.Block, ev *evaluator, a *Admin) hcl.Diagnostics {
	content, diags := block.Body.Content(adminSchema)
	diags = append(diags, decodeAdminAuth(content.Blocks, ev, &a.Auth)...)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	a.DeclRange = block.DefRange
	v, addrAttr, secret, ok := d.value("address", cty.String, "string")
	d.bool("allow_remote", &a.AllowRemote)
	if attr := d.strings("allowed_hosts", &a.AllowedHosts); attr != nil {
		for _, h := range a.AllowedHosts {
			if h == "" || strings.ContainsAny(h, "/ \t") {
				d.errorf(attr, "Invalid allowed host", "allowed_hosts lists %q, which is not a host name or host:port; write names such as \"nebula.internal\" or \"10.0.0.5:9464\".", h)
			}
		}
	}
	if attr := d.strings("allowed_origins", &a.AllowedOrigins); attr != nil {
		for _, o := range a.AllowedOrigins {
			if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
				d.errorf(attr, "Invalid allowed origin", "allowed_origins lists %q, which is not an origin; write a scheme, a host and an optional port, such as \"https://console.example.com\".", o)
			}
		}
	}
	diags = append(diags, d.diags...)
	if !ok {
		return diags
	}
	a.Address = v.AsString()
	a.AddressRange = addrAttr.Expr.Range()
	shown := fmt.Sprintf("%q", a.Address)
	if secret {
		shown = "(sensitive, not shown)"
	}
	if summary, detail := adminAddressProblem(a.Address, a.AllowRemote, len(a.Auth.Identities) > 0, shown); summary != "" {
		diags = append(diags, errorAt(addrAttr.Expr.Range(), summary, detail))
	}
	return diags
}

// CheckAdminAddress returns what is wrong with addr as the admin API's
// address, or nil: it must be host:port with a port that net.Listen takes
// (a number up to 65535 or a service name), and, unless allowRemote, its
// host must be a loopback address or "localhost" in any case. allowRemote
// is whether the admin block permits remote access, Admin.RemoteAccess:
// allow_remote set and at least one identity to authenticate callers.
// Load applies the same rule to the admin block; nebula-host applies it,
// and the admin server's own check, to the -admin flag too, in validate as
// in run.
func CheckAdminAddress(addr string, allowRemote bool) error {
	if summary, detail := adminAddressProblem(addr, allowRemote, allowRemote, fmt.Sprintf("%q", addr)); summary != "" {
		return fmt.Errorf("%s: %s", strings.ToLower(summary[:1])+summary[1:], detail)
	}
	return nil
}

// adminAddressProblem returns the summary and detail of what is wrong with
// addr, or "" and "": a non-loopback address needs both allowRemote and
// identities. shown is how the detail refers to the address.
func adminAddressProblem(addr string, allowRemote, identities bool, shown string) (summary, detail string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "Invalid admin address", fmt.Sprintf("The address %s is not host:port; write it as, for example, %q.", shown, defaultAdminAddress)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return "Invalid admin address", fmt.Sprintf("The port of the address %s is not a number from 0 to 65535 or a service name; write it as, for example, %q.", shown, defaultAdminAddress)
	}
	switch {
	case IsLoopback(host):
	case !allowRemote:
		return "Admin address is not loopback", fmt.Sprintf("The admin address %s lets other machines reach the admin API. Use a loopback address such as %q, "+
			"or, if remote access is intended, set allow_remote = true and declare an identity block for each caller in the admin block.",
			shown, defaultAdminAddress)
	case !identities:
		return "Remote admin address without identities", fmt.Sprintf("The admin address %s lets other machines reach the admin API, and the admin block declares no identity, "+
			"so every caller would be trusted. Declare an identity block for each caller, such as identity \"ops\" { token_sha256 = \"...\", allow = [\"read\", \"invoke\"] }, "+
			"or use a loopback address such as %q.", shown, defaultAdminAddress)
	}
	return "", ""
}

// IsLoopback reports whether host (a name or an IP address, without a
// port) names only this machine: localhost in any case, or a loopback
// address. The admin block, the admin server and its Host check share it.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// decodeHost decodes a host block into h.
func decodeHost(block *hcl.Block, ev *evaluator, h *HostSettings) hcl.Diagnostics {
	content, diags := block.Body.Content(hostSchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	d.duration("shutdown_timeout", &h.ShutdownTimeout)
	if attr := d.string("plugin_dir", &h.PluginDir); attr != nil && h.PluginDir != "" {
		h.PluginDir = resolvePath(attr.Range.Filename, h.PluginDir)
	}
	d.byteSize("max_message_size", &h.MaxMessageSize)
	d.enum("log_level", &h.LogLevel, "debug", "info", "warn", "error")
	d.enum("log_format", &h.LogFormat, "text", "json")
	if attr := d.stringMap("log_levels", &h.LogLevels); attr != nil {
		for _, k := range sortedKeys(h.LogLevels) {
			switch h.LogLevels[k] {
			case "debug", "info", "warn", "error":
			default:
				d.errorf(attr, "Invalid log level", "log_levels[%q] is %q; use one of \"debug\", \"info\", \"warn\" or \"error\".", k, h.LogLevels[k])
			}
		}
	}
	if attr, ok := content.Attributes["quota_store"]; ok {
		diags = append(diags, decodeQuotaStore(attr, h)...)
	}
	return append(diags, d.diags...)
}

// decodePlugin decodes a plugin block.
func decodePlugin(block *hcl.Block, ev *evaluator) (*Plugin, hcl.Diagnostics) {
	p := &Plugin{Name: block.Labels[0], DeclRange: block.DefRange}
	content, diags := block.Body.Content(pluginSchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	d.path("path", &p.Path)
	if attr := d.string("sha256", &p.SHA256); attr != nil {
		p.SHA256 = strings.ToLower(p.SHA256)
		if problem := checkSHA256(p.SHA256); problem != "" {
			d.errorf(attr, "Invalid sha256", "The sha256 checksum %s; write the 64 hexadecimal characters that \"sha256sum <plugin binary>\" prints.", problem)
			p.SHA256 = ""
		}
	}
	d.strings("args", &p.Args)
	d.stringMap("env", &p.Env)
	d.duration("start_timeout", &p.StartTimeout)
	d.duration("restart_reset_after", &p.RestartResetAfter)
	d.bool("allow_world_writable", &p.AllowWorldWritable)
	return p, append(diags, d.diags...)
}

// checkSHA256 returns what is wrong with a lowercase hex checksum, or "".
func checkSHA256(s string) string {
	if len(s) != 64 {
		return fmt.Sprintf("has %d characters instead of 64", len(s))
	}
	for i, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Sprintf("has a character that is not hexadecimal at position %d", i+1)
		}
	}
	return ""
}

var telemetrySchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "metrics"},
		{Type: "tracing"},
	},
}

var metricsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "enabled"},
		{Name: "tenant_label"},
		{Name: "per_resource"},
	},
}

var tracingSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "endpoint", Required: true},
		{Name: "insecure"},
		{Name: "headers"},
		{Name: "sample_ratio"},
		{Name: "query_text"},
	},
}

// decodeTelemetry decodes a telemetry block and its metrics and tracing
// blocks into t.
func decodeTelemetry(block *hcl.Block, ev *evaluator, t *Telemetry) hcl.Diagnostics {
	content, diags := block.Body.Content(telemetrySchema)
	t.Tracing.SampleRatio = 1
	blocks, bdiags := firstOfEachType(content.Blocks)
	diags = append(diags, bdiags...)
	for _, b := range blocks {
		switch b.Type {
		case "metrics":
			c, cdiags := b.Body.Content(metricsSchema)
			diags = append(diags, cdiags...)
			d := &attrDecoder{ev: ev, attrs: c.Attributes}
			enabled := true
			d.bool("enabled", &enabled)
			t.Metrics.Disabled = !enabled
			d.bool("tenant_label", &t.Metrics.TenantLabel)
			d.bool("per_resource", &t.Metrics.PerResource)
			diags = append(diags, d.diags...)
		case "tracing":
			c, cdiags := b.Body.Content(tracingSchema)
			diags = append(diags, cdiags...)
			d := &attrDecoder{ev: ev, attrs: c.Attributes}
			if attr := d.string("endpoint", &t.Tracing.Endpoint); attr != nil {
				if _, port, err := net.SplitHostPort(t.Tracing.Endpoint); err != nil {
					d.errorf(attr, "Invalid tracing endpoint",
						"The OTLP/gRPC endpoint must be host:port, such as \"127.0.0.1:4317\".")
				} else if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
					d.errorf(attr, "Invalid tracing endpoint",
						"The OTLP/gRPC endpoint's port %q is not a port number from 1 to 65535 or a service name; write it as, for example, \"127.0.0.1:4317\".", port)
				}
			}
			d.bool("insecure", &t.Tracing.Insecure)
			d.stringMap("headers", &t.Tracing.Headers)
			if attr := d.float("sample_ratio", &t.Tracing.SampleRatio); attr != nil && t.Tracing.SampleRatio > 1 {
				d.errorf(attr, "Invalid value", "Attribute \"sample_ratio\" must be between 0 and 1, such as 0.1 to sample one trace in ten.")
			}
			d.bool("query_text", &t.Tracing.QueryText)
			diags = append(diags, d.diags...)
		}
	}
	return diags
}

// firstOfEachType returns the first block of each type, in order, and an
// error for each further block of a type already seen: the nested blocks
// of the host's settings may each appear once.
func firstOfEachType(blocks hcl.Blocks) ([]*hcl.Block, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []*hcl.Block
	seen := map[string]*hcl.Block{}
	for _, b := range blocks {
		if first, dup := seen[b.Type]; dup {
			diags = append(diags, alreadyDeclared(b.DefRange, "Duplicate "+b.Type+" block",
				fmt.Sprintf("A %s block", b.Type), first.DefRange, "Merge the two blocks into one."))
			continue
		}
		seen[b.Type] = b
		out = append(out, b)
	}
	return out, diags
}
