resource "memory" "cache" {
  name        = "cache"
  default_ttl = "10 seconds"
}
