package transport

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// ExcerptLength is how many characters of a response body an error
// quotes at most.
const ExcerptLength = 300

// KindForStatus returns the kind of an HTTP error status (400 and more):
//
//   - 400, 405, 406, 411, 413, 414, 415, 416, 422 and any other 4xx not
//     named here: invalid_argument (the caller's request was refused);
//   - 401: unauthenticated; 403: permission_denied;
//   - 404, 410: not_found; 409: conflict; 412, 428: failed_precondition;
//   - 408: timeout; 429: resource_exhausted (retryable, not a failing
//     backend);
//   - 500: internal; 501: unimplemented; 504: timeout; 502, 503 and any
//     other 5xx: unavailable.
//
// The caller's kinds (invalid_argument, not_found, conflict, ...) are
// never counted as the backend failing by the host's circuit breaker and
// health; unavailable and timeout are, and they and resource_exhausted
// are retried on idempotent calls.
func KindForStatus(status int) sdk.Kind {
	switch status {
	case http.StatusUnauthorized:
		return sdk.KindUnauthenticated
	case http.StatusForbidden:
		return sdk.KindPermissionDenied
	case http.StatusNotFound, http.StatusGone:
		return sdk.KindNotFound
	case http.StatusConflict:
		return sdk.KindConflict
	case http.StatusPreconditionFailed, http.StatusPreconditionRequired:
		return sdk.KindFailedPrecondition
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return sdk.KindTimeout
	case http.StatusTooManyRequests:
		return sdk.KindResourceExhausted
	case http.StatusInternalServerError:
		return sdk.KindInternal
	case http.StatusNotImplemented:
		return sdk.KindUnimplemented
	}
	switch {
	case status >= 400 && status < 500:
		return sdk.KindInvalidArgument
	case status >= 500:
		return sdk.KindUnavailable
	}
	return ""
}

// StatusError returns nil for a response of status below 400, and an
// *sdk.Error otherwise: its kind from [KindForStatus], its Code the
// status number, its RetryAfter from a Retry-After header (seconds or an
// HTTP date) when the kind is retryable, and a message naming the method,
// the URL (without query) and the status, then an excerpt of body (the
// start of the response body, which the caller read). The credentials of
// the request (its Authorization header) are scrubbed from the excerpt;
// [Client.StatusError] scrubs every secret of the configuration too.
func StatusError(resp *http.Response, body []byte) error {
	return statusError(resp, body, nil)
}

// StatusError is the package's [StatusError] with the client's secrets
// (see [Client.Secrets]) scrubbed from the excerpt as well.
func (c *Client) StatusError(resp *http.Response, body []byte) error {
	return statusError(resp, body, c.Secrets())
}

func statusError(resp *http.Response, body []byte, secrets []string) error {
	if resp.StatusCode < 400 {
		return nil
	}
	kind := KindForStatus(resp.StatusCode)
	what := resp.Status
	if what == "" {
		what = strconv.Itoa(resp.StatusCode)
	}
	if req := resp.Request; req != nil {
		what = req.Method + " " + RedactURL(req.URL) + ": " + what
		for _, h := range []string{"Authorization", "Proxy-Authorization"} {
			if v := req.Header.Get(h); v != "" {
				secrets = append(secrets, v)
				if _, cred, ok := strings.Cut(v, " "); ok {
					secrets = append(secrets, cred)
				}
			}
		}
	}
	if ex := Excerpt(body, secrets); ex != "" {
		what += ": " + ex
	}
	return &sdk.Error{Kind: kind, Code: strconv.Itoa(resp.StatusCode), Message: what, RetryAfter: retryAfterOf(resp, kind)}
}

// retryAfterOf is the wait resp's Retry-After header asks for, for an
// error of a retryable kind.
func retryAfterOf(resp *http.Response, kind sdk.Kind) time.Duration {
	if resp == nil || !kind.Retryable() {
		return 0
	}
	return ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
}

// ParseRetryAfter returns the wait a Retry-After header value asks for:
// a number of seconds, or an HTTP date (less now). It is 0 for an empty,
// malformed or past value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Excerpt returns the start of a response body for an error message: at
// most ExcerptLength characters, on one line, with every secret replaced
// by "[redacted]" before it is cut (so no part of one shows).
func Excerpt(body []byte, secrets []string) string {
	const scan = 4096
	cut := len(body) > scan
	if cut {
		body = body[:scan]
	}
	s := string(body)
	longest := 0
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "\x00")
			longest = max(longest, len(sec))
		}
	}
	if cut {
		// A secret the cut split in two is not whole, so it was not
		// replaced: drop the tail where its start may be.
		s = s[:max(0, len(s)-longest)]
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", " [redacted] ")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) > ExcerptLength {
		r := []rune(s)
		s = string(r[:ExcerptLength]) + "…"
	}
	return s
}
