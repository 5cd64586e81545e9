variable "region" {
  type        = string
  description = "Where to run."
}
