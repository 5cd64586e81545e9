# max_idle below min_size: the pool would close the idle instances beyond
# max_idle and open them again to keep min_size, without end.
resource "memory" "cache" {
  name = "cache"

  pool {
    min_size = 4
    max_idle = 2
  }
}
