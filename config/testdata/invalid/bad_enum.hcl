resource "memory" "cache" {
  name = "cache"

  pool {
    order     = "lilo"
    selection = "random"
  }
}
