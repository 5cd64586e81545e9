resource "memory" "cache" {
  name = "cache"

  pool {
    max_size        = 4
    reclaim         = true
    lifetime_jitter = "-5s"
  }
}

resource "memory" "zero" {
  name = "zero"

  pool {
    reclaim       = true
    lease_timeout = "0s"
  }
}
