package sdk

import (
	"slices"
	"strings"
	"time"
)

// The key-value capabilities. A resource type that lists CapabilityKV
// offers the operations of KVOperations with exactly these names,
// arguments and results, so that a workflow can move from one key-value
// backend to another (the memory plugin, Redis) without changing its
// calls. A type that lists CapabilityPubSub also offers PubSubOperations.
// A driver may offer more operations besides.
const (
	CapabilityKV     = "kv"
	CapabilityPubSub = "pubsub"
)

// Arguments of the kv operations. Keys must not be empty; values are
// strings (binary-safe: any bytes a JSON string can carry).
type (
	// KVKeyArgs are the arguments of get and ttl.
	KVKeyArgs struct {
		Key string `nebula:"key,required" doc:"The key."`
	}
	// KVKeysArgs are the arguments of delete, exists and mget.
	KVKeysArgs struct {
		Keys []string `nebula:"keys,required" doc:"The keys, at least one."`
	}
	// KVSetArgs are the arguments of set.
	KVSetArgs struct {
		Key   string        `nebula:"key,required" doc:"The key."`
		Value string        `nebula:"value,required" doc:"The value."`
		TTL   time.Duration `nebula:"ttl" doc:"How long the key lives; unset or 0s keeps the resource's default (none for Redis)."`
		Mode  string        `nebula:"mode" default:"" doc:"\"\" always sets; \"nx\" only if the key is absent; \"xx\" only if it is present."`
	}
	// KVMSetArgs are the arguments of mset.
	KVMSetArgs struct {
		Values map[string]string `nebula:"values,required" doc:"The keys and their values, at least one."`
		TTL    time.Duration     `nebula:"ttl" doc:"How long the keys live; unset or 0s keeps the default."`
	}
	// KVExpireArgs are the arguments of expire.
	KVExpireArgs struct {
		Key string        `nebula:"key,required" doc:"The key."`
		TTL time.Duration `nebula:"ttl,required" doc:"How long the key lives from now; 0s removes its expiry."`
	}
	// KVIncrArgs are the arguments of incr and decr.
	KVIncrArgs struct {
		Key string `nebula:"key,required" doc:"The key; a missing key counts from 0."`
		By  int64  `nebula:"by" default:"1" doc:"How much to add (incr) or subtract (decr)."`
	}
	// KVScanArgs are the arguments of scan.
	KVScanArgs struct {
		Pattern string `nebula:"pattern" default:"*" doc:"A glob pattern the keys must match (*, ?, [abc])."`
		Cursor  string `nebula:"cursor" default:"" doc:"\"\" to start; then the cursor the previous page returned."`
		Count   int    `nebula:"count" default:"100" doc:"About how many keys to return per page."`
	}
	// KVCommandArgs are the arguments of command.
	KVCommandArgs struct {
		Args []string `nebula:"args,required" doc:"The command and its arguments, as the backend's protocol has them, e.g. [\"HSET\", \"h\", \"f\", \"v\"]."`
	}
)

// Results of the kv operations, as JSON.
type (
	// KVGetResult is get's result. A missing or expired key is not an
	// error: Found is false.
	KVGetResult struct {
		Value string `json:"value,omitempty"`
		Found bool   `json:"found"`
	}
	// KVSetResult is set's result: whether the value was stored (false
	// only when mode's condition did not hold).
	KVSetResult struct {
		OK bool `json:"ok"`
	}
	// KVCountResult is the result of delete (keys removed), exists (keys
	// present) and expire (1 if the key exists, else 0).
	KVCountResult struct {
		Count int64 `json:"count"`
	}
	// KVTTLResult is ttl's result. A persistent key has Found true and TTL
	// "".
	KVTTLResult struct {
		TTL   string `json:"ttl,omitempty"` // a Go duration, "1m30s"
		Found bool   `json:"found"`
	}
	// KVIncrResult is the result of incr and decr: the new value.
	KVIncrResult struct {
		Value int64 `json:"value"`
	}
	// KVMGetResult is mget's result, one entry per key in the order asked.
	KVMGetResult struct {
		Values []KVGetResult `json:"values"`
	}
	// KVScanResult is a page of scan: the keys, and the cursor of the next
	// page, "" after the last.
	KVScanResult struct {
		Keys   []string `json:"keys"`
		Cursor string   `json:"cursor"`
	}
	// KVCommandResult is command's result: the backend's reply as JSON
	// (strings, integers, arrays, null).
	KVCommandResult struct {
		Result any `json:"result"`
	}
)

// Arguments and the message of pub/sub.
type (
	// PublishArgs are the arguments of publish, whose result is
	// KVCountResult: how many subscribers received the message.
	PublishArgs struct {
		Channel string `nebula:"channel,required" doc:"The channel."`
		Message string `nebula:"message,required" doc:"The message."`
	}
	// SubscribeArgs are the arguments of subscribe, a StreamDownload
	// operation that runs until the caller cancels it.
	SubscribeArgs struct {
		Channels []string `nebula:"channels" doc:"Channels to subscribe to."`
		Patterns []string `nebula:"patterns" doc:"Glob patterns of channels to subscribe to."`
	}
	// PubSubEvent is one line of subscribe's stream: each event is written
	// as one JSON object followed by a newline. A message has Channel and
	// Payload (and Pattern when a pattern matched). When the connection
	// was lost and subscribe resubscribed, an event with Gap true says so:
	// messages published between Since and its arrival were lost.
	PubSubEvent struct {
		Channel string    `json:"channel,omitempty"`
		Pattern string    `json:"pattern,omitempty"`
		Payload string    `json:"payload,omitempty"`
		Gap     bool      `json:"gap,omitempty"`
		Since   time.Time `json:"since,omitzero"`
		Reason  string    `json:"reason,omitempty"`
	}
)

// KVOperations are the operations of CapabilityKV.
func KVOperations() []Operation {
	key, keys := MustSchemaFor(KVKeyArgs{}), MustSchemaFor(KVKeysArgs{})
	incr := MustSchemaFor(KVIncrArgs{})
	return []Operation{
		{Name: "get", Description: "Returns the value of a key; found is false when it is missing.", Args: key, Idempotent: true},
		{Name: "set", Description: "Stores a value, with an optional time to live, always or only if the key is absent (nx) or present (xx).", Args: MustSchemaFor(KVSetArgs{}), Idempotent: true},
		{Name: "delete", Description: "Removes keys and returns how many there were.", Args: keys, Idempotent: true},
		{Name: "exists", Description: "Returns how many of the keys are present.", Args: keys, Idempotent: true},
		{Name: "expire", Description: "Sets or (with 0s) removes a key's time to live; count is 0 when the key is missing.", Args: MustSchemaFor(KVExpireArgs{}), Idempotent: true},
		{Name: "ttl", Description: "Returns the time a key has left to live: found false when it is missing, ttl empty when it does not expire.", Args: key, Idempotent: true},
		{Name: "incr", Description: "Atomically adds to the integer value of a key and returns the new value.", Args: incr},
		{Name: "decr", Description: "Atomically subtracts from the integer value of a key and returns the new value.", Args: incr},
		{Name: "mget", Description: "Returns the values of several keys, in order.", Args: keys, Idempotent: true},
		{Name: "mset", Description: "Stores several values, with an optional time to live.", Args: MustSchemaFor(KVMSetArgs{}), Idempotent: true},
		{Name: "scan", Description: "Returns a page of the keys matching a pattern, and the cursor of the next page.", Args: MustSchemaFor(KVScanArgs{}), Idempotent: true},
		{Name: "command", Description: "Runs a raw command of the backend, for what the other operations do not cover.", Args: MustSchemaFor(KVCommandArgs{})},
	}
}

// PubSubOperations are the operations of CapabilityPubSub.
func PubSubOperations() []Operation {
	return []Operation{
		{Name: "publish", Description: "Publishes a message on a channel and returns how many subscribers received it.", Args: MustSchemaFor(PublishArgs{})},
		{Name: "subscribe", Description: "Streams the messages of channels and patterns, one JSON object per line, until the call is canceled; a line with gap true reports messages lost while reconnecting.", Args: MustSchemaFor(SubscribeArgs{}), Stream: StreamDownload},
	}
}

// The rules of the kv and pub/sub capabilities' arguments. The typed API
// applies them (Validate) before a driver's operation runs, so every
// driver of the capability refuses the same calls, as invalid_argument,
// with the same words, and none repeats them.

func (a KVKeyArgs) Validate() error { return kvKey("key", a.Key) }

func (a KVKeysArgs) Validate() error { return kvKeys("keys", a.Keys) }

// Validate checks the key, the time to live and the mode, which is "",
// "nx" or "xx" in any case, as Redis takes it (KVSetArgs.Condition reads
// it).
func (a KVSetArgs) Validate() error {
	if err := kvKey("key", a.Key); err != nil {
		return err
	}
	if _, err := a.Condition(); err != nil {
		return err
	}
	return kvTTL(a.TTL)
}

// KVCondition is when set stores its value.
type KVCondition int

const (
	// KVAlways stores the value whether or not the key is present.
	KVAlways KVCondition = iota
	// KVIfAbsent stores it only if the key is absent (mode nx).
	KVIfAbsent
	// KVIfPresent stores it only if the key is present (mode xx).
	KVIfPresent
)

// Condition reads the mode: when set stores its value.
func (a KVSetArgs) Condition() (KVCondition, error) {
	switch strings.ToLower(a.Mode) {
	case "":
		return KVAlways, nil
	case "nx":
		return KVIfAbsent, nil
	case "xx":
		return KVIfPresent, nil
	}
	return KVAlways, Errorf(KindInvalidArgument, `mode %q: use "" (always set), "nx" (only if absent) or "xx" (only if present)`, a.Mode)
}

func (a KVMSetArgs) Validate() error {
	if len(a.Values) == 0 {
		return Errorf(KindInvalidArgument, "values must hold at least one key")
	}
	for k := range a.Values {
		if k == "" {
			return Errorf(KindInvalidArgument, "values: a key must not be empty")
		}
	}
	return kvTTL(a.TTL)
}

func (a KVExpireArgs) Validate() error {
	if err := kvKey("key", a.Key); err != nil {
		return err
	}
	if a.TTL < 0 {
		return Errorf(KindInvalidArgument, "ttl %s must not be negative; 0s removes the expiry", a.TTL)
	}
	return nil
}

func (a KVIncrArgs) Validate() error { return kvKey("key", a.Key) }

func (a KVScanArgs) Validate() error {
	if a.Count <= 0 {
		return Errorf(KindInvalidArgument, "count %d must be positive", a.Count)
	}
	return nil
}

func (a KVCommandArgs) Validate() error {
	if len(a.Args) == 0 || a.Args[0] == "" {
		return Errorf(KindInvalidArgument, "args must start with a command name")
	}
	return nil
}

func (a PublishArgs) Validate() error { return kvKey("channel", a.Channel) }

func (a SubscribeArgs) Validate() error {
	if len(a.Channels)+len(a.Patterns) == 0 {
		return Errorf(KindInvalidArgument, "subscribe needs at least one channel or pattern")
	}
	if i := slices.Index(a.Channels, ""); i >= 0 {
		return Errorf(KindInvalidArgument, "channels[%d] must not be empty", i)
	}
	if i := slices.Index(a.Patterns, ""); i >= 0 {
		return Errorf(KindInvalidArgument, "patterns[%d] must not be empty", i)
	}
	return nil
}

func kvKey(name, v string) error {
	if v == "" {
		return Errorf(KindInvalidArgument, "%s must not be empty", name)
	}
	return nil
}

func kvKeys(name string, vs []string) error {
	if len(vs) == 0 {
		return Errorf(KindInvalidArgument, "%s must hold at least one key", name)
	}
	for i, v := range vs {
		if v == "" {
			return Errorf(KindInvalidArgument, "%s[%d] must not be empty", name, i)
		}
	}
	return nil
}

func kvTTL(ttl time.Duration) error {
	if ttl < 0 {
		return Errorf(KindInvalidArgument, "ttl %s must not be negative", ttl)
	}
	return nil
}
