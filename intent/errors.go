package intent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// HTTPError is a non-2xx answer from the homeserver. ErrCode and Message come
// from the standard Matrix error body ({"errcode": ..., "error": ...}) when the
// homeserver sent one.
type HTTPError struct {
	// Method and Path identify the request (the path has no query string, so
	// no token or user ID parameter ends up in logs).
	Method string
	Path   string
	// Status is the HTTP status code.
	Status int
	// ErrCode is the Matrix error code, such as "M_FORBIDDEN".
	ErrCode string
	// Message is the human-readable error text.
	Message string
	// RetryAfter is how long the homeserver asked us to wait (429 answers,
	// from retry_after_ms in the body or the Retry-After header).
	RetryAfter time.Duration
}

// Error implements error.
func (e *HTTPError) Error() string {
	code := e.ErrCode
	if code == "" {
		code = http.StatusText(e.Status)
	}
	if e.Message == "" {
		return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, code)
	}
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, code, e.Message)
}

// Is lets errors.Is match an *HTTPError against the Err* code sentinels of
// this package, and ErrUnsupported against endpoints the homeserver does not
// implement.
func (e *HTTPError) Is(target error) bool {
	if c, ok := target.(codeError); ok {
		return string(c) == e.ErrCode
	}
	if target == ErrUnsupported {
		return e.unsupported()
	}
	return false
}

// unsupported reports whether the answer means "this endpoint does not
// exist here" rather than "the thing you asked for does not exist".
func (e *HTTPError) unsupported() bool {
	switch {
	case e.ErrCode == "M_UNRECOGNIZED":
		return e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed || e.Status == http.StatusBadRequest
	case e.ErrCode == "":
		return e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed || e.Status == http.StatusNotImplemented
	}
	return false
}

// codeError is the type of the Matrix error code sentinels.
type codeError string

func (c codeError) Error() string { return string(c) }

// Sentinels for common Matrix error codes, matched with errors.Is against the
// *HTTPError returned by every request.
var (
	ErrForbidden       error = codeError("M_FORBIDDEN")
	ErrUnknownToken    error = codeError("M_UNKNOWN_TOKEN")
	ErrMissingToken    error = codeError("M_MISSING_TOKEN")
	ErrNotFound        error = codeError("M_NOT_FOUND")
	ErrLimitExceeded   error = codeError("M_LIMIT_EXCEEDED")
	ErrUserInUse       error = codeError("M_USER_IN_USE")
	ErrInvalidUsername error = codeError("M_INVALID_USERNAME")
	ErrExclusive       error = codeError("M_EXCLUSIVE")
	ErrRoomInUse       error = codeError("M_ROOM_IN_USE")
	ErrTooLarge        error = codeError("M_TOO_LARGE")
	ErrBadJSON         error = codeError("M_BAD_JSON")
	ErrNotJSON         error = codeError("M_NOT_JSON")
	ErrUnrecognized    error = codeError("M_UNRECOGNIZED")
)

// ErrUnsupported is matched (with errors.Is) by answers saying the homeserver
// does not implement an endpoint: 404/405 without an error code, or
// M_UNRECOGNIZED. Dendrite, for example, lacks the appservice ping endpoint.
var ErrUnsupported = errors.New("not supported by the homeserver")

// transportError wraps a failure to get any answer from the homeserver
// (connection refused, reset, timeout).
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// IsTransient reports whether err is worth retrying later: a network error, a
// 5xx answer or 429 M_LIMIT_EXCEEDED. Other 4xx answers, encoding errors and
// context cancellation are permanent.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests || he.ErrCode == "M_LIMIT_EXCEEDED"
	}
	var te *transportError
	return errors.As(err, &te)
}

// retryAfter returns the delay requested by the homeserver in err, or 0.
func retryAfter(err error) time.Duration {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.RetryAfter
	}
	return 0
}
