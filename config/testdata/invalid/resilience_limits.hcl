resource "memory" "cache" {
  name = "cache"

  health {
    interval        = "0s"
    unhealthy_after = 0
  }
  resilience {
    retry {
      max_attempts = 0
      backoff      = "2s"
      max_backoff  = "1s"
      budget       = 1.5
    }
    circuit_breaker {
      half_open_probes = 0
    }
    bulkhead {
      max_queue = 10
    }
  }
}
