# Valid for the host; the driver refuses it when the plugin checks it.
resource "postgres" "db" {
  url = format("postgres://postgres:%s@127.0.0.1:notaport/test", "hunter2-Kq9")
}
