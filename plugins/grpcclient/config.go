package grpcclient

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Validate checks the configuration without connecting: the target, the
// policy, the TLS files, the token's transport, the metadata, the sizes
// and the descriptor set file.
func (c Config) Validate() error {
	_, err := c.prepare()
	return err
}

// prepared is what a valid configuration gives a resource.
type prepared struct {
	dial    []grpc.DialOption
	md      metadata.MD          // sent with every call
	files   *protoregistry.Files // from descriptor_set_file; nil for reflection
	secrets []string
}

// prepare validates c and builds the dial options. Its errors are
// sdk.ConfigErrors, joined; none quotes a secret.
func (c Config) prepare() (*prepared, error) {
	var errs []error
	add := func(attr, summary, detail string) {
		errs = append(errs, sdk.AttributeError(attr, summary, detail))
	}
	if strings.TrimSpace(c.Target) == "" {
		add("target", "must not be empty", `Set target = "host:port", "dns:///host:port" or "unix:/path".`)
	}
	var serviceConfig string
	switch c.LoadBalancing {
	case PickFirst:
		serviceConfig = `{"loadBalancingConfig":[{"pick_first":{}}]}`
	case RoundRobin:
		serviceConfig = `{"loadBalancingConfig":[{"round_robin":{}}]}`
	default:
		add("load_balancing", fmt.Sprintf("unknown policy %q", c.LoadBalancing), `Use "pick_first" or "round_robin".`)
	}
	tlsConfig, tlsErrs := sdk.ClientTLS{
		Enabled: c.TLS, ServerName: c.TLSServerName, CAFile: c.TLSCAFile,
		CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile, InsecureSkipVerify: c.TLSInsecureSkipVerify,
	}.Config()
	errs = append(errs, tlsErrs...)
	if c.BearerToken != "" && !c.TLS && !c.AllowPlaintextToken {
		add("bearer_token", "would be sent in plaintext",
			"Set tls = true, or allow_plaintext_token = true when the connection cannot be overheard (loopback, a unix socket, a sidecar).")
	}
	if strings.ContainsAny(c.BearerToken, "\r\n") {
		add("bearer_token", "holds a line break", "A token is one line of printable characters.")
	}
	md := metadata.MD{}
	for attr, m := range map[string]map[string]string{"metadata": c.Metadata, "secret_metadata": c.SecretMetadata} {
		for k, v := range m {
			key, val, err := metadataPair(k, v)
			if err != nil {
				// The value may be a secret: name the key only.
				add(attr, fmt.Sprintf("key %q: %v", k, err), "Keys are lower-case letters, digits and - _ .; the values of keys ending in -bin are base64.")
				continue
			}
			md.Append(key, val)
		}
	}
	if _, ok := md["authorization"]; ok && c.BearerToken != "" {
		add("bearer_token", "and an authorization metadata key are both set", "Keep one of them.")
	}
	if c.KeepaliveTime < 0 {
		add("keepalive_time", "must not be negative", `Set a duration such as "30s", or "0s" for no keepalive pings.`)
	}
	if c.KeepaliveTimeout <= 0 {
		add("keepalive_timeout", "must be positive", `Set a duration such as "20s".`)
	}
	if c.MaxRecvMessageSize <= 0 {
		add("max_recv_message_size", "must be positive", "Set a size in bytes, such as 4194304 (4 MiB).")
	}
	if c.MaxSendMessageSize <= 0 {
		add("max_send_message_size", "must be positive", "Set a size in bytes, such as 4194304 (4 MiB).")
	}
	var files *protoregistry.Files
	if c.DescriptorSetFile != "" {
		var err error
		if files, err = readDescriptorSet(c.DescriptorSetFile); err != nil {
			add("descriptor_set_file", "cannot be used", err.Error())
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.MaxRecvMessageSize), grpc.MaxCallSendMsgSize(c.MaxSendMessageSize)),
	}
	if c.Authority != "" {
		dial = append(dial, grpc.WithAuthority(c.Authority))
	}
	if c.KeepaliveTime > 0 {
		dial = append(dial, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: c.KeepaliveTime, Timeout: c.KeepaliveTimeout, PermitWithoutStream: c.KeepalivePermitWithoutStream,
		}))
	}
	if c.BearerToken != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer{token: c.BearerToken, secure: c.TLS}))
	}
	return &prepared{dial: dial, md: md, files: files, secrets: c.secrets()}, nil
}

// secrets are the strings that must never appear in an error, a log or
// metadata shown to a caller.
func (c Config) secrets() []string {
	var s []string
	if strings.TrimSpace(c.BearerToken) != "" {
		s = append(s, c.BearerToken)
	}
	for _, v := range c.SecretMetadata {
		if strings.TrimSpace(v) != "" {
			s = append(s, v)
		}
	}
	return s
}

// metadataPair checks one metadata pair and returns it as grpc-go takes
// it: the key lower-cased, the value of a -bin key decoded from base64.
func metadataPair(k, v string) (key, value string, err error) {
	key = strings.ToLower(k)
	if key == "" {
		return "", "", errors.New("an empty key")
	}
	if strings.HasPrefix(key, "grpc-") || key == "content-type" || key == "te" || key == "user-agent" || strings.HasPrefix(key, ":") {
		return "", "", errors.New("a key gRPC reserves for itself")
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return "", "", fmt.Errorf("the character %q is not allowed in a key", r)
		}
	}
	if strings.HasSuffix(key, "-bin") {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			if b, err = base64.RawStdEncoding.DecodeString(v); err != nil {
				return "", "", errors.New("the value of a -bin key is not base64")
			}
		}
		return key, string(b), nil
	}
	for _, r := range v {
		if r < 0x20 || r > 0x7e {
			return "", "", errors.New("the value holds a character other than printable ASCII (use a key ending in -bin, with a base64 value)")
		}
	}
	return key, v, nil
}

// readDescriptorSet reads a serialized FileDescriptorSet, with every
// file's imports in it.
func readDescriptorSet(path string) (*protoregistry.Files, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("not a FileDescriptorSet: %v (write one with protoc --descriptor_set_out=FILE --include_imports)", err)
	}
	if len(set.GetFile()) == 0 {
		return nil, errors.New("the set holds no file")
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("%v (write it with --include_imports, so that it holds every import)", err)
	}
	return files, nil
}

// bearer sends the token with every call, the health checks' and
// reflection's included.
type bearer struct {
	token  string
	secure bool // the configuration has TLS; otherwise it allowed plaintext
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity makes grpc refuse to send the token over a
// connection without TLS, unless the configuration allowed it.
func (b bearer) RequireTransportSecurity() bool { return b.secure }

var _ credentials.PerRPCCredentials = bearer{}
