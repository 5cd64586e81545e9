package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Kafka's error codes and franz-go's errors map to the kinds the host acts
// on, keep the code's name, and a secret in an error's text is blanked.
func TestKindOfKafkaErrors(t *testing.T) {
	cases := []struct {
		err       error
		kind      sdk.Kind
		code      string
		retryable bool
	}{
		{kerr.UnknownTopicOrPartition, sdk.KindNotFound, "UNKNOWN_TOPIC_OR_PARTITION", false},
		{kerr.SaslAuthenticationFailed, sdk.KindUnauthenticated, "SASL_AUTHENTICATION_FAILED", false},
		{kerr.UnsupportedSaslMechanism, sdk.KindUnauthenticated, "UNSUPPORTED_SASL_MECHANISM", false},
		{kerr.TopicAuthorizationFailed, sdk.KindPermissionDenied, "TOPIC_AUTHORIZATION_FAILED", false},
		{kerr.GroupAuthorizationFailed, sdk.KindPermissionDenied, "GROUP_AUTHORIZATION_FAILED", false},
		{kerr.NotLeaderForPartition, sdk.KindUnavailable, "NOT_LEADER_FOR_PARTITION", true},
		{kerr.CoordinatorNotAvailable, sdk.KindUnavailable, "COORDINATOR_NOT_AVAILABLE", true},
		{kerr.RequestTimedOut, sdk.KindUnavailable, "REQUEST_TIMED_OUT", true},
		{kerr.NotEnoughReplicas, sdk.KindUnavailable, "NOT_ENOUGH_REPLICAS", true},
		{kerr.RebalanceInProgress, sdk.KindConflict, "REBALANCE_IN_PROGRESS", false},
		{kerr.IllegalGeneration, sdk.KindConflict, "ILLEGAL_GENERATION", false},
		{kerr.UnknownMemberID, sdk.KindConflict, "UNKNOWN_MEMBER_ID", false},
		{kerr.MessageTooLarge, sdk.KindInvalidArgument, "MESSAGE_TOO_LARGE", false},
		{kerr.UnknownTopicID, sdk.KindNotFound, "UNKNOWN_TOPIC_ID", false},
		{kerr.TopicAlreadyExists, sdk.KindAlreadyExists, "TOPIC_ALREADY_EXISTS", false},
		{kerr.InvalidReplicationFactor, sdk.KindInvalidArgument, "INVALID_REPLICATION_FACTOR", false},
		{kerr.InvalidConfig, sdk.KindInvalidArgument, "INVALID_CONFIG", false},
		{kerr.PolicyViolation, sdk.KindInvalidArgument, "POLICY_VIOLATION", false},
		{kerr.ThrottlingQuotaExceeded, sdk.KindResourceExhausted, "THROTTLING_QUOTA_EXCEEDED", true},
		{fmt.Errorf("wrapped: %w", kerr.UnknownTopicOrPartition), sdk.KindNotFound, "UNKNOWN_TOPIC_OR_PARTITION", false},
		{kgo.ErrRecordTimeout, sdk.KindTimeout, "", true},
		{kgo.ErrMaxBuffered, sdk.KindResourceExhausted, "", true},
		{kgo.ErrClientClosed, sdk.KindUnavailable, "", true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, sdk.KindUnavailable, "", true},
		{io.EOF, sdk.KindUnavailable, "", true},
		{errors.New("unable to dial: dial tcp 10.0.0.1:9092: i/o timeout"), sdk.KindUnavailable, "", true},
		{errors.New("invalid record partitioning choice of 7 from 3 available"), sdk.KindInvalidArgument, "", false},
		{errors.New("topic purged while buffered"), sdk.KindNotFound, "", false},
		{context.DeadlineExceeded, sdk.KindTimeout, "", true},
		{context.Canceled, sdk.KindCanceled, "", false},
		{errors.New("something else"), sdk.KindUnknown, "", false},
	}
	r := &resource{name: "t"}
	for _, c := range cases {
		err := r.wrap(context.Background(), c.err, "doing")
		var e *sdk.Error
		if !errors.As(err, &e) {
			t.Fatalf("%v: not an *sdk.Error", c.err)
		}
		if e.Kind != c.kind || e.Code != c.code || e.IsRetryable() != c.retryable {
			t.Errorf("%v: kind %q code %q retryable %v, want %q %q %v", c.err, e.Kind, e.Code, e.IsRetryable(), c.kind, c.code, c.retryable)
		}
	}

	// The call's own context decides first.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if k := sdk.KindOf(r.wrap(ctx, kgo.ErrClientClosed, "doing")); k != sdk.KindCanceled {
		t.Errorf("canceled call: kind %q", k)
	}

	r.secrets = []string{"pa55"}
	err := r.wrap(context.Background(), errors.New("login pa55 refused"), "doing")
	if strings.Contains(err.Error(), "pa55") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("secret not blanked: %v", err)
	}
}
