resource "memory" "cache" {
  name = "cache"

  pool {
    max_size        = 4
    acquire_timeout = "2 secs"
  }
}
