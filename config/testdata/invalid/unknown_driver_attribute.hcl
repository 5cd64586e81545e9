resource "memory" "cache" {
  name        = "cache"
  max_entires = 100
}
