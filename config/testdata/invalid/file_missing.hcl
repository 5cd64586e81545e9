resource "memory" "cache" {
  name     = "cache"
  password = file("secrets/missing.txt")
}
