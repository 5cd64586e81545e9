# A misspelled top-level block.

resourse "memory" "cache" {
  name = "cache"
}
