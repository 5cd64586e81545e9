# The wsfeed example: one WebSocket session on a push feed. The program
# starts the feed itself and sets WSFEED_URL to its address; point it at
# another server with -serve=false and WSFEED_URL.

resource "websocket" "ticks" {
  url           = env("WSFEED_URL", "ws://127.0.0.1:8765/ticks")
  ping_interval = "5s"
  ping_timeout  = "2s"
  reconnect_min = "50ms"
  reconnect_max = "1s"
  # Give up, and end receive with unavailable, 10s after a drop.
  reconnect_budget = "10s"
  buffer           = 1024
}
