resource "memory" "cache" {
  name     = "cache"
  password = "not-\qshown"
}
