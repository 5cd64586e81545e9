variable "cache_size" {
  type    = number
  default = 1000
  validation {
    condition     = var.cache_size > 0
    error_message = "cache_size must be positive."
  }
}

variable "db_password" {
  type      = string
  sensitive = true
}

plugin "postgres" {
  path   = "./bin/nebula-plugin-postgres" # relative to this file
  sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
}

admin { address = "127.0.0.1:9464" }
host  { shutdown_timeout = "45s" }

resource "postgres" "main" {
  url      = "postgres://app@${env("PGHOST", "127.0.0.1")}:5432/app"
  password = var.db_password

  pool {
    max_size        = 20
    acquire_timeout = "2s"
  }
  resilience {
    retry { max_attempts = 3 }
  }
}

resource "memory" "cache" {
  max_entries = var.cache_size
  depends_on  = [resource.postgres.main]
}
