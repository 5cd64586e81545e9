resource "memory" "cache" {
  name = "cache"

  pool {
    max_sise = 20
  }
}
