# The seats example's production configuration: the seat counts live in
# Redis (scripts/testenv starts one on 127.0.0.1:6379).
#
#   REDIS_ADDR  the server, host:port (default 127.0.0.1:6379)

resource "redis" "seats" {
  addresses = [env("REDIS_ADDR", "127.0.0.1:6379")]
}
