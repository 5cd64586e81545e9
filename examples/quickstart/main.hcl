# The quickstart that `make run` serves: two resources that need no server.
#
#   bin/nebula-host call memory.cache set '{"key":"a","value":"1"}'
#   bin/nebula-host call memory.cache get '{"key":"a"}'
#   echo hello | bin/nebula-host call -in - localfs.files put '{"key":"hello.txt"}'
#   bin/nebula-host call -stream localfs.files get '{"key":"hello.txt"}'
#   bin/nebula-host call sqlite.db exec '{"sql":"CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)"}'
#   bin/nebula-host call sqlite.db exec '{"sql":"INSERT INTO notes(body) VALUES (?)","args":["hi"]}'
#   bin/nebula-host call sqlite.db query '{"sql":"SELECT id, body FROM notes"}'
#   curl 127.0.0.1:9464/readyz?verbose

variable "files_root" {
  type        = string
  default     = ".data/files"
  description = "Directory that localfs.files serves. Set NEBULA_VAR_files_root to move it."
}

admin {
  address = "127.0.0.1:9464"
}

host {
  shutdown_timeout = "10s"
}

resource "memory" "cache" {
  max_entries = 10000
  default_ttl = "1h"
}

resource "localfs" "files" {
  root        = var.files_root
  create_root = true
}

# An in-memory SQLite database, shared by every session of the resource
# while the host runs.
resource "sqlite" "db" {
  path = ":memory:"
}
