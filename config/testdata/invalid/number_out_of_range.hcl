variable "n" {
  type    = number
  default = 1e9999999
}

resource "memory" "cache" {
  name        = format("%d", 1e-9999999)
  max_entries = 1e300 * 1e300
}
