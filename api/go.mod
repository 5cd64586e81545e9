module github.com/nebula-resource/nebula-resource/api

go 1.24.0

require go.uber.org/goleak v1.3.0
