resource "postgres" "db" {
  password = <<-EOT
    hunter2-Kq9
    EOT
  prot = 5432
}
