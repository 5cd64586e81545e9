admin {
  address         = "127.0.0.1:9500"
  allowed_hosts   = ["nebula.internal", "10.0.0.5:9500"]
  allowed_origins = ["https://console.example.com"]
}

host {
  shutdown_timeout = "45s"
  log_level        = "debug"
  max_message_size = "8MiB"
}

plugin "memory" {
  path   = "bin/nebula-plugin-memory"
  sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
  args   = ["-v"]
  env    = { MEMORY_DEBUG = "1" }
}

variable "cache_size" {
  type    = number
  default = 500
}
