resource "memory" "cache" {
  name = "cache"

  pool {
    min_size = 30
    max_size = 20
  }
}
