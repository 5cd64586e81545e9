# nebula-host's configuration in Kubernetes. kustomization.yaml makes the
# ConfigMap nebula-config of this file; the Deployment mounts it at
# /etc/nebula and runs nebula-host run -config /etc/nebula. The Secret
# nebula-credentials is mounted at var.secrets_dir.
#
# Each variable can be set without editing this file by an environment
# variable NEBULA_VAR_<name> of the container.

variable "namespace" {
  type        = string
  default     = "default"
  description = "The namespace the host runs in; the Deployment sets NEBULA_VAR_namespace from the pod's."
}

variable "secrets_dir" {
  type        = string
  default     = "/var/run/secrets/nebula"
  description = "Where the Deployment mounts the Secret nebula-credentials."
}

variable "postgres_host" {
  type    = string
  default = "postgres"
}

variable "postgres_port" {
  type    = number
  default = 5432
}

variable "postgres_database" {
  type    = string
  default = "app"
}

variable "redis_address" {
  type    = string
  default = "redis:6379"
}

admin {
  # Every interface of the pod: the kubelet's probes and Prometheus reach
  # the pod's IP address, workers the Service.
  address      = "0.0.0.0:9464"
  allow_remote = true

  # The names workers reach the host by through the Service nebula-resource
  # (probes and Prometheus use the pod's address, always accepted).
  allowed_hosts = [
    "nebula-resource",
    "nebula-resource.${var.namespace}",
    "nebula-resource.${var.namespace}.svc",
    "nebula-resource.${var.namespace}.svc.cluster.local",
  ]

  # Prometheus, through the ServiceMonitor: its bearer token is the key
  # metrics-token of the Secret, which the host reads from the same Secret.
  identity "prometheus" {
    token = credential.metrics.value
    allow = ["admin"] # GET /metrics needs admin
  }
}

host {
  log_format = "json"
  # Below the pod's terminationGracePeriodSeconds (30s), so that leases
  # still out are drained before the kubelet kills the container.
  shutdown_timeout = "25s"
}

# Keys of the Secret nebula-credentials, one file each. A file credential
# follows the file: a changed Secret reaches the resources without a
# restart (credentials.md, Rotation).
credential "postgres" {
  source = "file"
  path   = "${var.secrets_dir}/postgres.json" # {"username": "...", "password": "..."}
}

credential "metrics" {
  source = "file"
  format = "text"
  path   = "${var.secrets_dir}/metrics-token"
}

# The database: the host is ready (GET /readyz) only while it is.
resource "postgres" "main" {
  critical = true
  host     = var.postgres_host
  port     = var.postgres_port
  database = var.postgres_database
  user     = credential.postgres.username
  password = credential.postgres.password

  pool {
    max_size        = 10
    acquire_timeout = "2s"
  }
}

# A cache the workers can do without for a while: its failing checks show
# in /v1/health and the metrics, but keep no pod out of the Service.
resource "redis" "cache" {
  critical  = false
  addresses = [var.redis_address]
}
