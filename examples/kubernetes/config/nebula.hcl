# The orders service's nebula-host: its database and its cache, for the
# order workers, which call the admin API through the Service
# nebula-resource with their token. The Deployment mounts this file at
# /etc/nebula and the Secret nebula-credentials at var.secrets_dir.

variable "namespace" {
  type        = string
  default     = "orders"
  description = "The pod's namespace (the Deployment sets NEBULA_VAR_namespace)."
}

variable "secrets_dir" {
  type        = string
  default     = "/var/run/secrets/nebula"
  description = "Where the Secret nebula-credentials is mounted (NEBULA_VAR_secrets_dir)."
}

variable "postgres_host" {
  type    = string
  default = "orders-db"
}

variable "postgres_port" {
  type    = number
  default = 5432
}

variable "postgres_database" {
  type    = string
  default = "orders"
}

variable "redis_address" {
  type    = string
  default = "orders-cache:6379"
}

admin {
  address      = "0.0.0.0:9464"
  allow_remote = true
  allowed_hosts = [
    "nebula-resource",
    "nebula-resource.${var.namespace}",
    "nebula-resource.${var.namespace}.svc",
    "nebula-resource.${var.namespace}.svc.cluster.local",
  ]

  # The ServiceMonitor's token: the Secret's key metrics-token.
  identity "prometheus" {
    token = credential.metrics.value
    allow = ["admin"]
  }

  # The order workers: they run SQL and use the cache, nothing else.
  identity "orders-worker" {
    token = credential.worker.value
    allow = ["read", "invoke"]
  }
}

host {
  log_format       = "json"
  shutdown_timeout = "25s"
}

credential "postgres" {
  source = "file"
  path   = "${var.secrets_dir}/postgres.json"
}

credential "metrics" {
  source = "file"
  format = "text"
  path   = "${var.secrets_dir}/metrics-token"
}

credential "worker" {
  source = "file"
  format = "text"
  path   = "${var.secrets_dir}/worker-token"
}

# Orders cannot be taken without their database: a pod whose database
# fails its checks leaves the Service.
resource "postgres" "orders" {
  critical = true
  host     = var.postgres_host
  port     = var.postgres_port
  database = var.postgres_database
  user     = credential.postgres.username
  password = credential.postgres.password

  pool {
    min_size        = 1
    max_size        = 20
    acquire_timeout = "2s"
  }
  health {
    interval = "5s"
  }
}

# Orders can be taken without the cache, more slowly.
resource "redis" "cache" {
  critical  = false
  addresses = [var.redis_address]
}
