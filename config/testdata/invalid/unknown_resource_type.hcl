resource "memroy" "cache" {
  name = "cache"
}
