package sdk

import (
	"cmp"
	"fmt"
	"strconv"
	"unicode/utf8"

	"google.golang.org/grpc"
)

// DefaultMaxMessageSize is the default of the host's max_message_size: the
// most bytes an operation's arguments, or its result, may take, on the
// admin API and between the host and a plugin alike.
const DefaultMaxMessageSize = 16 << 20

// MaxMessageSizeEnv is the environment variable through which the host
// tells a plugin its max_message_size, in bytes. [Serve] reads it; without
// it a plugin uses DefaultMaxMessageSize.
const MaxMessageSizeEnv = "NEBULA_MAX_MESSAGE_SIZE"

// CodeMessageTooLarge is the Error.Code of an invalid_argument error for a
// message over max_message_size.
const CodeMessageTooLarge = "message_too_large"

// messageOverhead is the room a gRPC message between the host and a plugin
// gets beside its payload (ids, operation name, protobuf framing), so that
// whatever max_message_size lets through the admin API also crosses to the
// plugin.
const messageOverhead = 64 << 10

// MessageSizeDialOptions returns the dial options that let a host send and
// receive messages of up to maxMessageSize bytes of payload (zero means
// DefaultMaxMessageSize). A message over the limit fails as
// invalid_argument, naming max_message_size.
func MessageSizeDialOptions(maxMessageSize int) []grpc.DialOption {
	n := cmp.Or(maxMessageSize, DefaultMaxMessageSize) + messageOverhead
	return []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(n), grpc.MaxCallSendMsgSize(n))}
}

// MessageSizeServerOptions returns the server options of a plugin that
// sends and receives messages of up to maxMessageSize bytes of payload
// (zero means DefaultMaxMessageSize).
func MessageSizeServerOptions(maxMessageSize int) []grpc.ServerOption {
	n := cmp.Or(maxMessageSize, DefaultMaxMessageSize) + messageOverhead
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(n), grpc.MaxSendMsgSize(n)}
}

// maxMessageSizeFrom returns the max_message_size the host passed in
// MaxMessageSizeEnv, or DefaultMaxMessageSize when it passed none or
// something that is not a positive number of bytes.
func maxMessageSizeFrom(getenv func(string) string) int {
	n, err := strconv.Atoi(getenv(MaxMessageSizeEnv))
	if err != nil || n <= 0 {
		return DefaultMaxMessageSize
	}
	return n
}

// QuoteShort quotes s as %q does, cut to its first 64 bytes with a note of
// its length: how an error shows a value a caller sent, so that an error
// never grows with the request.
func QuoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
