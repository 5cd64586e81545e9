admin {
  address = "127.0.0.1:9464"
}

host {
  log_level  = "verbose"
  log_format = "json"
}

admin {
  address = "127.0.0.1:9465"
}
