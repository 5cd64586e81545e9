# The objects example on local files: the development configuration.
# Objects are files under OBJECTS_DIR (default .data/objects, beside the
# working directory).

resource "localfs" "objects" {
  root        = env("OBJECTS_DIR", ".data/objects")
  create_root = true
}
