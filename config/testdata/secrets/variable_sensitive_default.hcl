variable "pw" {
  type      = number
  sensitive = true
  default   = "hunter2-Kq9"
}
