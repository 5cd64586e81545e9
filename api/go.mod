module github.com/nebula-resource/nebula-resource/api

go 1.24.0
