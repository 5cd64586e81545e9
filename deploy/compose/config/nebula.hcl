# nebula-host in deploy/compose/compose.yaml: mounted at /etc/nebula.
# PostgreSQL and Redis are the services postgres and redis of the same
# project.

variable "secrets_dir" {
  type        = string
  default     = "/run/secrets"
  description = "Where Compose mounts the project's secrets."
}

admin {
  # Every interface of the container: Compose publishes the port on the
  # machine's loopback (127.0.0.1:9464), which reaches the container's
  # own address.
  address      = "0.0.0.0:9464"
  allow_remote = true

  # The token is the container's NEBULA_TOKEN, which the health check
  # and nebula-host commands in the container send.
  identity "operator" {
    token = credential.admin.token
    allow = ["read", "invoke", "admin"]
  }
}

host {
  shutdown_timeout = "25s" # below stop_grace_period
}

credential "admin" {
  source    = "env"
  variables = { token = "NEBULA_TOKEN" }
}

# The password PostgreSQL was created with; a new file content reaches
# the resource without a restart.
credential "postgres" {
  source = "file"
  format = "text"
  path   = "${var.secrets_dir}/postgres-password"
}

# The host is ready (GET /readyz) only while the database is.
resource "postgres" "main" {
  critical = true
  host     = "postgres"
  database = "app"
  user     = "nebula_app"
  password = credential.postgres.value
  sslmode  = "disable" # the project's own network

  pool {
    max_size        = 10
    acquire_timeout = "2s"
  }
}

# A cache the host serves without: its failures do not make the host
# unready.
resource "redis" "cache" {
  critical  = false
  addresses = ["redis:6379"]
}
