variable "token" {
  type      = string
  sensitive = true
  default   = "hunter2-Kq9"

  validation {
    condition     = length(var.token) > 100
    error_message = "token ${var.token} is too short"
  }
}
