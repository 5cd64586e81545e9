resource "memory" "cache" {
  name        = "cache"
  max_entries = "lots"
}
