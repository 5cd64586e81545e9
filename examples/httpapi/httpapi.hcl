# The httpapi example: one HTTP API. The program starts the API itself on
# a free loopback port and passes its URL in HTTPAPI_URL.
#
#   HTTPAPI_URL    the API's base URL
#   HTTPAPI_TOKEN  its bearer token (default demo-token; sensitive)

resource "http" "inventory" {
  base_url     = env("HTTPAPI_URL", "http://127.0.0.1:8080/v1")
  bearer_token = env("HTTPAPI_TOKEN", "demo-token")
  headers      = { "Accept" = "application/json" }

  request_timeout = "30s"
  rate_limit      = 50
  health_path     = "/healthz"

  health {
    interval = "10s"
    timeout  = "2s"
  }

  # GET, HEAD, PUT, DELETE and OPTIONS are retried after an unavailable,
  # timeout or resource_exhausted answer (waiting out a Retry-After);
  # POST only with an idempotency_key.
  resilience {
    timeout = "20s"
    retry {
      max_attempts = 3 # the first try and up to two retries
      backoff      = "100ms"
    }
  }
}
