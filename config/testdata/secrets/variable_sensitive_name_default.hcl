variable "db_password" {
  type    = list(string)
  default = "hunter2-Kq9"
}
