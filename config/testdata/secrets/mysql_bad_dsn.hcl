# Valid for the host; the driver refuses it when the plugin checks it.
resource "mysql" "db" {
  dsn = "root:hunter2-Kq9@tcp(127.0.0.1:3306)test?parseTime=maybe"
}
