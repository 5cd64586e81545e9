variable "secret" {
  type      = string
  sensitive = true

  validation {
    condition     = length(var.secret) > 100
    error_message = "secret must be long, but is ${var.secret}."
  }
  validation {
    condition     = var.secret == "other"
    error_message = "secret must be other."
  }
}

admin {
  address = var.secret
}

resource "memory" "cache" {
  name        = "cache"
  max_entries = var.secret
  default_ttl = var.secret
  password    = ["${var.secret}"]

  pool {
    order        = var.secret
    max_size     = var.secret
    idle_timeout = "${var.secret}"
  }
}

resource "echo" "e" {
  text   = jsondecode(var.secret)
  count  = tonumber(var.secret)
  ratio  = var.secret + 1
  items  = [var.secret]
  labels = { (var.secret) = "x" }
  more   = base64decode(var.secret)
  format = format("%d", var.secret)
}

resource "echo" "nested" {
  items  = [1, 2.5]
  labels = { a = var.secret }
  ttls   = { (var.secret) = "soon" }
}
