host {
  log_levels = {
    plugin = "loud"
  }
}
