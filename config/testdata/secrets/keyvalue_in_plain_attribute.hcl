resource "postgres" "db" {
  application_name = "host=127.0.0.1 password=hunter2-Kq9"
  port             = "fivefourthreetwo"
}
