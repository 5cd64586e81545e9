host {
  max_message_size = "16 parsecs"
}
