variable "name" {
  type    = string
  default = "cache"

  validation {
    condition     = var.name
    error_message = "name must be set."
  }
}
