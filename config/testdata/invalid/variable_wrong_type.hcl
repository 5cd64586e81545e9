variable "max_entries" {
  type    = number
  default = "many"
}
