package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// maxReloadBody bounds the body of POST /v1/reload, which is empty or {}.
const maxReloadBody = 1 << 10

// reload serves POST /v1/reload: it calls Config.Reload and answers what
// changed (api.ReloadResult). A configuration with errors is 422, code
// invalid_configuration, with the diagnostics as they came; without
// Config.Reload the route answers 501.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if err := decodeReloadBody(http.MaxBytesReader(w, r.Body, maxReloadBody)); err != nil {
		_ = rc.SetReadDeadline(time.Now())
		w.Header().Set("Connection", "close")
		s.writeError(w, "", "", err)
		return
	}
	// The body was read to its end: its deadline must not end the reload.
	_ = rc.SetReadDeadline(time.Time{})
	if s.cfg.Reload == nil {
		s.writeError(w, "", "", sdk.Errorf(sdk.KindUnimplemented, "this host cannot reload its configuration: the program that embeds its admin server gave it no reload function"))
		return
	}
	res, err := s.cfg.Reload(r.Context())
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if err != nil {
		if invalidConfiguration(err) {
			noteKind(w, string(api.KindFailedPrecondition))
			s.log.Warn("reload refused: the configuration has errors", "error", err.Error())
			writeJSON(w, http.StatusUnprocessableEntity, api.ErrorBody{Error: api.Error{Kind: api.KindFailedPrecondition,
				Code: api.CodeInvalidConfiguration, Message: printable(truncate(err.Error(), MaxDiagnosticsMessage))}})
			return
		}
		s.writeError(w, "", "", err)
		return
	}
	s.log.Info("configuration reloaded", "added", res.Added, "removed", res.Removed, "changed", res.Changed, "unchanged", res.Unchanged)
	writeJSON(w, http.StatusOK, res)
}

// decodeReloadBody checks that the body is empty, or an empty JSON object.
func decodeReloadBody(body io.Reader) error {
	b, err := io.ReadAll(body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return sdk.Errorf(sdk.KindInvalidArgument, "the request body is larger than %d bytes; send {} or nothing", maxReloadBody)
	case err != nil:
		return bodyError(err, maxReloadBody)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v struct{}
	if err := dec.Decode(&v); err != nil {
		return sdk.Errorf(sdk.KindInvalidArgument, "the body of a reload is empty or {}: %s", Quote(string(b)))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return sdk.Errorf(sdk.KindInvalidArgument, "the body of a reload is empty or {}: %s", Quote(string(b)))
	}
	return nil
}

// invalidConfiguration reports whether a reload's error is a
// configuration with errors.
func invalidConfiguration(err error) bool {
	var de *host.DiagnosticsError
	if errors.As(err, &de) {
		return true
	}
	var ic interface{ InvalidConfiguration() bool }
	return errors.As(err, &ic) && ic.InvalidConfiguration()
}
