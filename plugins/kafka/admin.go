package kafka

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Arguments of the topic administration operations of the "kafka" type.
type (
	// CreateTopicArgs are the arguments of create_topic.
	CreateTopicArgs struct {
		Name              string            `nebula:"name,required" doc:"The topic: 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'."`
		Partitions        int32             `nebula:"partitions" default:"-1" doc:"Number of partitions, at least 1; -1 uses the brokers' default (num.partitions)."`
		ReplicationFactor int16             `nebula:"replication_factor" default:"-1" doc:"Replicas of each partition, at least 1 and at most the number of brokers; -1 uses the brokers' default (default.replication.factor)."`
		Config            map[string]string `nebula:"config" doc:"Topic configuration, name to value, e.g. {\"retention.ms\" = \"86400000\", \"cleanup.policy\" = \"compact\"}; unset settings take the brokers' defaults."`
		IfNotExists       bool              `nebula:"if_not_exists" default:"false" doc:"Succeed, creating nothing, when the topic already exists (kafka-topics --if-not-exists); false makes an existing topic an already_exists error."`
	}
	// DeleteTopicArgs are the arguments of delete_topic.
	DeleteTopicArgs struct {
		Name     string `nebula:"name,required" doc:"The topic."`
		IfExists bool   `nebula:"if_exists" default:"false" doc:"Succeed, deleting nothing, when the topic does not exist (kafka-topics --if-exists); false makes a missing topic a not_found error."`
	}
	// ListTopicsArgs are the arguments of list_topics.
	ListTopicsArgs struct {
		IncludeInternal bool `nebula:"include_internal" default:"false" doc:"Also list the brokers' internal topics (__consumer_offsets, __transaction_state)."`
	}
	// DescribeTopicArgs are the arguments of describe_topic.
	DescribeTopicArgs struct {
		Name            string `nebula:"name,required" doc:"The topic."`
		IncludeDefaults bool   `nebula:"include_defaults" default:"false" doc:"Also return the settings the topic takes from the brokers and Kafka's defaults; false returns only those set on the topic itself."`
	}
)

// Results of the topic administration operations, as JSON.
type (
	// CreateTopicResult is create_topic's result. Created is false when
	// the topic already existed (with if_not_exists); Partitions and
	// ReplicationFactor are then the existing topic's.
	CreateTopicResult struct {
		Name              string `json:"name"`
		Created           bool   `json:"created"`
		TopicID           string `json:"topic_id,omitempty"`
		Partitions        int32  `json:"partitions"`
		ReplicationFactor int16  `json:"replication_factor"`
	}
	// DeleteTopicResult is delete_topic's result. Deleted is false when
	// the topic did not exist (with if_exists).
	DeleteTopicResult struct {
		Name    string `json:"name"`
		Deleted bool   `json:"deleted"`
	}
	// TopicSummary is one topic of list_topics.
	TopicSummary struct {
		Name              string `json:"name"`
		Partitions        int    `json:"partitions"`
		ReplicationFactor int    `json:"replication_factor"`
		Internal          bool   `json:"internal"`
	}
	// ListTopicsResult is list_topics' result: the topics, sorted by name.
	ListTopicsResult struct {
		Topics []TopicSummary `json:"topics"`
	}
	// PartitionDetail is one partition of describe_topic: its leader (-1
	// when it has none), its replicas and its in-sync replicas, as broker
	// IDs. Error is the Kafka error the brokers report for the partition
	// (LEADER_NOT_AVAILABLE, say), absent when there is none.
	PartitionDetail struct {
		Partition       int32   `json:"partition"`
		Leader          int32   `json:"leader"`
		Replicas        []int32 `json:"replicas"`
		ISR             []int32 `json:"isr"`
		OfflineReplicas []int32 `json:"offline_replicas,omitempty"`
		Error           string  `json:"error,omitempty"`
	}
	// DescribeTopicResult is describe_topic's result. Config holds the
	// settings set on the topic (with include_defaults, every setting with
	// the value in force); a sensitive setting, whose value the brokers do
	// not reveal, is left out.
	DescribeTopicResult struct {
		Name              string            `json:"name"`
		TopicID           string            `json:"topic_id,omitempty"`
		Internal          bool              `json:"internal"`
		ReplicationFactor int               `json:"replication_factor"`
		Partitions        []PartitionDetail `json:"partitions"`
		Config            map[string]string `json:"config"`
	}
)

// maxTopicName is the longest topic name Kafka accepts.
const maxTopicName = 249

// checkTopicName applies Kafka's rule for topic names (Topic.validate in
// Kafka's clients), so that a bad name is the caller's mistake on every
// broker, some of which (kfake) accept any name.
func checkTopicName(name string) error {
	const hint = "a topic name is 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-', and not \".\" or \"..\""
	switch {
	case name == "":
		return sdk.Errorf(sdk.KindInvalidArgument, "name must not be empty: %s", hint)
	case name == "." || name == "..":
		return sdk.Errorf(sdk.KindInvalidArgument, "topic name %q is not allowed: %s", name, hint)
	case len(name) > maxTopicName:
		return sdk.Errorf(sdk.KindInvalidArgument, "topic name %s is %d characters long: %s", sdk.QuoteShort(name), len(name), hint)
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}); i >= 0 {
		return sdk.Errorf(sdk.KindInvalidArgument, "topic name %s has %q at byte %d: %s", sdk.QuoteShort(name), []rune(name[i:])[0], i, hint)
	}
	return nil
}

// Validate applies Kafka's rules for a topic's name, partitions,
// replication factor and setting names.
func (a CreateTopicArgs) Validate() error {
	if err := checkTopicName(a.Name); err != nil {
		return err
	}
	if a.Partitions == 0 || a.Partitions < -1 {
		return sdk.Errorf(sdk.KindInvalidArgument, "partitions %d: want at least 1, or -1 for the brokers' default", a.Partitions)
	}
	if a.ReplicationFactor == 0 || a.ReplicationFactor < -1 {
		return sdk.Errorf(sdk.KindInvalidArgument, "replication_factor %d: want at least 1, or -1 for the brokers' default", a.ReplicationFactor)
	}
	for k := range a.Config {
		if strings.TrimSpace(k) == "" {
			return sdk.Errorf(sdk.KindInvalidArgument, "config has an empty setting name")
		}
	}
	return nil
}

// Validate refuses an empty name.
func (a DeleteTopicArgs) Validate() error { return checkName(a.Name) }

// Validate refuses an empty name.
func (a DescribeTopicArgs) Validate() error { return checkName(a.Name) }

func checkName(name string) error {
	if name == "" {
		return sdk.Errorf(sdk.KindInvalidArgument, "name must not be empty")
	}
	return nil
}

func (p *ProducerInstance) createTopic(ctx context.Context, a CreateTopicArgs) (CreateTopicResult, error) {
	var configs map[string]*string
	if len(a.Config) > 0 {
		configs = make(map[string]*string, len(a.Config))
		for k, v := range a.Config {
			configs[k] = &v
		}
	}
	resp, err := p.adm.CreateTopic(ctx, a.Partitions, a.ReplicationFactor, configs, a.Name)
	switch {
	case err == nil:
		return CreateTopicResult{Name: a.Name, Created: true, TopicID: topicID(resp.ID), Partitions: resp.NumPartitions, ReplicationFactor: resp.ReplicationFactor}, nil
	case errors.Is(err, kerr.TopicAlreadyExists) && a.IfNotExists:
		t, err := p.describe(ctx, a.Name)
		if err != nil {
			return CreateTopicResult{}, err
		}
		return CreateTopicResult{Name: a.Name, TopicID: t.TopicID, Partitions: int32(len(t.Partitions)), ReplicationFactor: int16(t.ReplicationFactor)}, nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return CreateTopicResult{}, p.res.wrap(ctx, err, fmt.Sprintf("creating topic %q: it already exists (pass if_not_exists = true to accept an existing topic)", a.Name))
	}
	return CreateTopicResult{}, p.res.wrap(ctx, brokerMessage(err, resp.ErrMessage), fmt.Sprintf("creating topic %q", a.Name))
}

func (p *ProducerInstance) deleteTopic(ctx context.Context, a DeleteTopicArgs) (DeleteTopicResult, error) {
	resp, err := p.adm.DeleteTopic(ctx, a.Name)
	switch {
	case err == nil:
		// Forget what this client knows of the topic, so that a topic
		// created again under the name starts afresh (franz-go's
		// PurgeTopicsFromClient says why).
		p.cl.PurgeTopicsFromClient(a.Name)
		return DeleteTopicResult{Name: a.Name, Deleted: true}, nil
	case errors.Is(err, kerr.UnknownTopicOrPartition) && a.IfExists:
		return DeleteTopicResult{Name: a.Name}, nil
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return DeleteTopicResult{}, p.res.wrap(ctx, err, fmt.Sprintf("deleting topic %q: it does not exist", a.Name))
	}
	return DeleteTopicResult{}, p.res.wrap(ctx, brokerMessage(err, resp.ErrMessage), fmt.Sprintf("deleting topic %q", a.Name))
}

func (p *ProducerInstance) listTopics(ctx context.Context, a ListTopicsArgs) (ListTopicsResult, error) {
	meta, err := p.metadata(ctx, nil)
	if err != nil {
		return ListTopicsResult{}, p.res.wrap(ctx, err, "listing topics")
	}
	out := ListTopicsResult{Topics: make([]TopicSummary, 0, len(meta.Topics))}
	for _, t := range meta.Topics {
		if t.Topic == nil || t.IsInternal && !a.IncludeInternal {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); errors.Is(err, kerr.UnknownTopicOrPartition) {
			continue // deleted between the brokers' listing and their answer
		}
		out.Topics = append(out.Topics, TopicSummary{Name: *t.Topic, Partitions: len(t.Partitions), ReplicationFactor: replicationFactor(t), Internal: t.IsInternal})
	}
	slices.SortFunc(out.Topics, func(a, b TopicSummary) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (p *ProducerInstance) describeTopic(ctx context.Context, a DescribeTopicArgs) (DescribeTopicResult, error) {
	out, err := p.describe(ctx, a.Name)
	if err != nil {
		return DescribeTopicResult{}, err
	}
	rcs, err := p.adm.DescribeTopicConfigs(ctx, a.Name)
	if err == nil {
		var rc kadm.ResourceConfig
		if rc, err = rcs.On(a.Name, nil); err == nil {
			err = brokerMessage(rc.Err, rc.ErrMessage)
			for _, c := range rc.Configs {
				if c.Value != nil && (a.IncludeDefaults || c.Source == kmsg.ConfigSourceDynamicTopicConfig) {
					out.Config[c.Key] = *c.Value
				}
			}
		}
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return DescribeTopicResult{}, p.res.wrap(ctx, err, fmt.Sprintf("describing topic %q: it does not exist", a.Name))
	}
	if err != nil {
		return DescribeTopicResult{}, p.res.wrap(ctx, err, fmt.Sprintf("describing the configuration of topic %q", a.Name))
	}
	return out, nil
}

// describe returns the topic's partitions, with an empty Config.
func (p *ProducerInstance) describe(ctx context.Context, name string) (DescribeTopicResult, error) {
	meta, err := p.metadata(ctx, []string{name})
	if err == nil && (len(meta.Topics) != 1 || meta.Topics[0].Topic == nil || *meta.Topics[0].Topic != name) {
		err = fmt.Errorf("the brokers answered about %d topics, not about %q alone", len(meta.Topics), name)
	}
	if err != nil {
		return DescribeTopicResult{}, p.res.wrap(ctx, err, fmt.Sprintf("describing topic %q", name))
	}
	t := &meta.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		what := fmt.Sprintf("describing topic %q", name)
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			what += ": it does not exist"
		}
		return DescribeTopicResult{}, p.res.wrap(ctx, err, what)
	}
	out := DescribeTopicResult{
		Name:              name,
		TopicID:           topicID(t.TopicID),
		Internal:          t.IsInternal,
		ReplicationFactor: replicationFactor(*t),
		Partitions:        make([]PartitionDetail, len(t.Partitions)),
		Config:            map[string]string{},
	}
	for i, tp := range t.Partitions {
		d := PartitionDetail{Partition: tp.Partition, Leader: tp.Leader, Replicas: nonNil(tp.Replicas), ISR: nonNil(tp.ISR), OfflineReplicas: tp.OfflineReplicas}
		if tp.ErrorCode != 0 {
			d.Error = kerr.TypedErrorForCode(tp.ErrorCode).Message
		}
		out.Partitions[i] = d
	}
	slices.SortFunc(out.Partitions, func(a, b PartitionDetail) int { return cmp.Compare(a.Partition, b.Partition) })
	return out, nil
}

// metadata asks a broker about the topics (nil: every topic). It does not
// use franz-go's cache of metadata, which kadm's ListTopics reads and
// which may be seconds old: an administrator wants what the brokers know
// now, a topic deleted a moment ago by another client included. The
// request never creates a topic.
func (p *ProducerInstance) metadata(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	if topics != nil {
		req.Topics = make([]kmsg.MetadataRequestTopic, len(topics))
		for i, t := range topics {
			req.Topics[i] = kmsg.NewMetadataRequestTopic()
			req.Topics[i].Topic = kmsg.StringPtr(t)
		}
	}
	return req.RequestWith(ctx, p.cl)
}

// replicationFactor is the number of replicas of the topic's first
// partition (Kafka gives every partition of a topic the same number).
func replicationFactor(t kmsg.MetadataResponseTopic) int {
	for _, tp := range t.Partitions {
		if tp.Partition == 0 {
			return len(tp.Replicas)
		}
	}
	return 0
}

// topicID is a topic ID as Kafka's tools print it (URL-safe base64
// without padding), or "" for a broker too old to have IDs.
func topicID(id [16]byte) string {
	if id == [16]byte{} {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// brokerMessage adds the broker's explanation of a Kafka error, when it
// gave one, to the error.
func brokerMessage(err error, msg string) error {
	if err == nil || msg == "" {
		return err
	}
	return fmt.Errorf("%w (%s)", err, msg)
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
