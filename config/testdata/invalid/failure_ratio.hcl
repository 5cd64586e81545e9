resource "memory" "cache" {
  name = "cache"

  resilience {
    timeout = "5s"
    circuit_breaker {
      failure_ratio = 1.5
      open_for      = "30s"
    }
    retry {
      max_attempts = -1
      backoff      = "fast"
    }
  }
}
