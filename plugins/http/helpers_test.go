package httpclient_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	httpclient "github.com/nebula-resource/nebula-resource/plugins/http"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func newServer(h http.Handler) *httptest.Server { return httptest.NewUnstartedServer(h) }

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func newDriver() sdk.Driver { return httpclient.New() }

func kindOf(err error) string { return string(sdk.KindOf(err)) }
