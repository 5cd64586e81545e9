package kafka

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// errorMap classifies franz-go's errors: a Kafka error code by its name
// (which is its Code) and its retriability, franz-go's own errors and its
// signs of a lost connection, a partition the topic does not have.
var errorMap = sdk.ErrorMap{
	Backend: func(err error) (sdk.BackendError, bool) {
		var ke *kerr.Error
		if !errors.As(err, &ke) {
			return sdk.BackendError{}, false
		}
		kind := kindOfCode(ke)
		// A retriable Kafka error is safe to retry whatever its kind, but
		// for a topic that does not exist (UNKNOWN_TOPIC_OR_PARTITION,
		// retriable while metadata spreads): not_found stays final.
		return sdk.BackendError{Kind: kind, Code: ke.Message, Retryable: ke.Retriable && kind != sdk.KindNotFound}, true
	},
	Client: func(err error) (sdk.Kind, bool) {
		var dataLoss *kgo.ErrDataLoss
		switch {
		case errors.Is(err, kgo.ErrRecordTimeout):
			// Wrapping the last error of the retries, which a timeout
			// says more plainly.
			return sdk.KindTimeout, true
		case errors.Is(err, kgo.ErrMaxBuffered):
			return sdk.KindResourceExhausted, true
		case errors.As(err, &dataLoss):
			return sdk.KindInternal, true
		case strings.Contains(err.Error(), "topic purged while buffered"):
			// The driver purged the topic of a record still waiting to be
			// sent from the client: delete_topic deleted it, or another
			// call found it deleted (franz-go's errPurged is not exported).
			return sdk.KindNotFound, true
		}
		return "", false
	},
	Lost: func(err error) bool {
		var firstEOF *kgo.ErrFirstReadEOF
		if errors.Is(err, kgo.ErrRecordRetries) || errors.Is(err, kgo.ErrClientClosed) ||
			// The broker hung up at once: usually TLS or SASL that the
			// client and the broker disagree on.
			errors.As(err, &firstEOF) {
			return true
		}
		msg := err.Error()
		return strings.Contains(msg, "unable to dial") || strings.Contains(msg, "connection refused") ||
			strings.Contains(msg, "no such host") || strings.Contains(msg, "i/o timeout") ||
			strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe")
	},
	Arguments: func(err error) bool {
		// An explicit partition the topic does not have.
		return strings.Contains(err.Error(), "invalid record partitioning choice")
	},
}

// wrap turns an error from franz-go into an *sdk.Error (errorMap), without
// the resource's secrets. ctx is the context of the call, to tell a
// canceled or expired call from a failure of the backend.
func (r *resource) wrap(ctx context.Context, err error, what string) error {
	return errorMap.Wrap(ctx, err, what, r.secrets...)
}

// kindOfCode maps a Kafka error code to a kind.
func kindOfCode(e *kerr.Error) sdk.Kind {
	switch e {
	case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID, kerr.GroupIDNotFound:
		return sdk.KindNotFound
	case kerr.SaslAuthenticationFailed, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState,
		kerr.DelegationTokenAuthDisabled:
		return sdk.KindUnauthenticated
	case kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, kerr.DelegationTokenAuthorizationFailed:
		return sdk.KindPermissionDenied
	case kerr.TopicAlreadyExists:
		return sdk.KindAlreadyExists
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.InvalidTopicException,
		kerr.InvalidRequiredAcks, kerr.InvalidPartitions, kerr.InvalidTimestamp, kerr.PolicyViolation,
		kerr.OffsetOutOfRange, kerr.InvalidGroupID, kerr.InvalidCommitOffsetSize, kerr.OffsetMetadataTooLarge,
		kerr.InvalidSessionTimeout, kerr.UnsupportedCompressionType, kerr.InvalidConfig,
		kerr.InvalidReplicationFactor, kerr.InvalidReplicaAssignment:
		return sdk.KindInvalidArgument
	case kerr.RebalanceInProgress, kerr.IllegalGeneration, kerr.UnknownMemberID, kerr.FencedInstanceID,
		kerr.StaleMemberEpoch, kerr.UnreleasedInstanceID:
		// The group moved on without this member: its commit no longer
		// counts, and the records it held go to another member.
		return sdk.KindConflict
	case kerr.ThrottlingQuotaExceeded, kerr.GroupMaxSizeReached:
		return sdk.KindResourceExhausted
	case kerr.UnsupportedVersion:
		return sdk.KindUnimplemented
	}
	if e.Retriable {
		return sdk.KindUnavailable
	}
	return sdk.KindUnknown
}

// slogLogger sends franz-go's warnings and errors to log/slog, which the
// SDK's Serve routes to the host's log.
type slogLogger struct{}

func (slogLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (slogLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l := slog.LevelInfo
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	case kgo.LogLevelDebug:
		l = slog.LevelDebug
	}
	slog.Log(context.Background(), l, "kafka: "+msg, keyvals...)
}
