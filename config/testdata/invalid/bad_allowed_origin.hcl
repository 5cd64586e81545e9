admin {
  allowed_hosts   = ["http://nebula.internal/"]
  allowed_origins = ["console.example.com", "null"]
}
