resource "memory" "cache" {
  name = "cache
}
