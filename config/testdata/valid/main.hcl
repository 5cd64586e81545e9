variable "region" {
  type = string
}

variable "port" {
  type    = number
  default = 8080
}

variable "tags" {
  type    = list(string)
  default = ["a"]
}

variable "name" {
  type    = string
  default = "from-default"

  validation {
    condition     = length(var.name) > 2
    error_message = "name is too short."
  }
}

plugin "memory" {
  path = "/opt/nebula/nebula-plugin-memory"
}

resource "memory" "cache" {
  name        = "${var.name}-${var.region}"
  max_entries = var.port
  password    = trimspace(file("secrets/token.txt"))

  pool {
    min_size            = 2
    max_size            = 20
    max_idle            = 4
    replicas            = 1
    idle_timeout        = "5m"
    max_lifetime        = "1h"
    acquire_timeout     = "2s"
    validate_after_idle = "30s"
    lease_timeout       = "1m"
    reclaim             = true
    lifetime_jitter     = "5m"
    order               = "fifo"
    selection           = "least_loaded"
  }

  health {
    interval        = "10s"
    timeout         = "1s"
    jitter          = "500ms"
    unhealthy_after = 3
    healthy_after   = 2
  }

  resilience {
    timeout         = "5s"
    attempt_timeout = "1s"

    retry {
      max_attempts = 3
      backoff      = "50ms"
      max_backoff  = "1s"
      budget       = 0.2
    }
    circuit_breaker {
      failure_threshold = 5
      failure_ratio     = 0.5
      window            = "10s"
      open_for          = "30s"
      half_open_probes  = 2
    }
    bulkhead {
      max_concurrent = 10
      max_queue      = 100
    }
  }
}

resource "localfs" "files" {
  root       = env("NEBULA_TEST_ROOT", "/srv/default")
  home       = env("NEBULA_TEST_HOME")
  tags       = concat(var.tags, ["b"])
  depends_on = [resource.memory.cache]
}
