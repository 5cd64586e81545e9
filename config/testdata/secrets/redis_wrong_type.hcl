resource "redis" "cache" {
  addresses         = ["127.0.0.1:6379"]
  sentinel_password = { a = "hunter2-Kq9" }
}
