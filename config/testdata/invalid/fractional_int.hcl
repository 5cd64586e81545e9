resource "memory" "cache" {
  name        = "cache"
  max_entries = 10.5
}
