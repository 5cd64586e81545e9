# The objects example on an S3 bucket: the production configuration. The
# program is the same; only the resource's type and attributes change.
#
#   OBJECTS_BUCKET    the bucket (required)
#   S3_ENDPOINT       a compatible server's URL; unset for AWS
#   S3_PATH_STYLE     "true" for most compatible servers
#   AWS_REGION        the bucket's region (default us-east-1)
#   AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
#                     static keys; unset, the plugin uses the instance's
#                     role (a plugin does not inherit the host's
#                     environment: docs/installing-plugins.md)

resource "s3" "objects" {
  bucket            = env("OBJECTS_BUCKET")
  region            = env("AWS_REGION", "us-east-1")
  endpoint          = env("S3_ENDPOINT", "")
  path_style        = env("S3_PATH_STYLE", "false") == "true"
  access_key_id     = env("AWS_ACCESS_KEY_ID", "")
  secret_access_key = env("AWS_SECRET_ACCESS_KEY", "")
  key_prefix        = "objects-example/"
}
