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

// scrub removes the resource's secrets from err's text, but not the ones
// the caller itself sent in this call (sdk.RedactContext says why).
func (r *resource) scrub(ctx context.Context, err error) error {
	return sdk.RedactContext(ctx, err, r.secrets...)
}

var truth = true

// wrap turns an error from franz-go into an *sdk.Error with a kind and,
// for a Kafka error code, the code's name (UNKNOWN_TOPIC_OR_PARTITION) as
// Code. ctx is the context of the call, to tell a canceled or expired call
// from a failure of the backend.
func (r *resource) wrap(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		return err
	}
	cause := r.scrub(ctx, err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &sdk.Error{Kind: sdk.KindOf(ctxErr), Message: what + ": " + ctxErr.Error(), Err: cause}
	}
	e := &sdk.Error{Kind: kindOf(err), Message: what, Err: cause}
	if ke := kafkaError(err); ke != nil {
		e.Code = ke.Message
		// A retriable Kafka error is safe to retry even where its kind
		// (not_found for UNKNOWN_TOPIC_OR_PARTITION) is not.
		if ke.Retriable && e.Kind != sdk.KindNotFound {
			e.Retryable = &truth
		}
	}
	return e
}

// kafkaError returns the first Kafka error code in err's chain.
func kafkaError(err error) *kerr.Error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return nil
}

// kindOf classifies an error of franz-go or of a broker.
func kindOf(err error) sdk.Kind {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return sdk.KindTimeout
	case errors.Is(err, context.Canceled):
		return sdk.KindCanceled
	}
	if ke := kafkaError(err); ke != nil {
		return kindOfCode(ke)
	}
	var dataLoss *kgo.ErrDataLoss
	var firstEOF *kgo.ErrFirstReadEOF
	switch {
	case errors.Is(err, kgo.ErrRecordTimeout):
		return sdk.KindTimeout
	case errors.Is(err, kgo.ErrMaxBuffered):
		return sdk.KindResourceExhausted
	case errors.Is(err, kgo.ErrRecordRetries), errors.Is(err, kgo.ErrClientClosed):
		return sdk.KindUnavailable
	case errors.As(err, &dataLoss):
		return sdk.KindInternal
	case errors.As(err, &firstEOF):
		// The broker hung up at once: usually TLS or SASL that the
		// client and the broker disagree on.
		return sdk.KindUnavailable
	case sdk.IsConnectionLoss(err):
		return sdk.KindUnavailable
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "invalid record partitioning choice"):
		// An explicit partition the topic does not have.
		return sdk.KindInvalidArgument
	case strings.Contains(msg, "topic purged while buffered"):
		// The driver purged the topic of a record still waiting to be
		// sent from the client: delete_topic deleted it, or another
		// call found it deleted (franz-go's errPurged is not exported).
		return sdk.KindNotFound
	case strings.Contains(msg, "unable to dial"), strings.Contains(msg, "connection refused"),
		strings.Contains(msg, "no such host"), strings.Contains(msg, "i/o timeout"),
		strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"):
		return sdk.KindUnavailable
	}
	return sdk.KindUnknown
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
