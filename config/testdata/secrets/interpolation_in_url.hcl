# Valid for the host; the driver refuses it when the plugin checks it.
resource "postgres" "db" {
  url = "postgres://postgres:${"hunter2-Kq9"}@127.0.0.1:notaport/test"
}
