variable "max_entries" {
  type    = number
  default = 0

  validation {
    condition     = var.max_entries > 0
    error_message = "max_entries must be positive."
  }
}
