# The kafkaworker example: a producer and a consumer group on one Kafka
# cluster (scripts/testenv starts a Kafka-protocol broker on
# 127.0.0.1:9092).
#
#   KAFKA_BROKERS  the seed brokers, comma-separated (default 127.0.0.1:9092)
#
# The program sets the variables topic and group from its -topic and
# -group flags (config.WithVariables); nebula-host takes them as
# -var topic=... -var group=....

variable "topic" {
  type        = string
  default     = "kafkaworker-orders"
  description = "The topic the workers consume."
}

variable "group" {
  type        = string
  default     = "kafkaworker-example"
  description = "The consumer group the workers are members of."
}

resource "kafka" "events" {
  brokers = split(",", env("KAFKA_BROKERS", "127.0.0.1:9092"))
}

resource "kafka_consumer" "workers" {
  brokers = split(",", env("KAFKA_BROKERS", "127.0.0.1:9092"))
  group   = var.group
  topics  = [var.topic]

  # Two members of the group, always open, one per worker: the group
  # splits the topic's partitions between them. fifo hands out the least
  # recently used member, so both members' partitions are read (see
  # docs/kafka.md, "Sizing the pool").
  pool {
    min_size = 2
    max_size = 2
    order    = "fifo"
  }
}
