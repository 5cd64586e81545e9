resource "memory" "cache" {
  name = "cache"

  pol {
    max_size = 20
  }
}
