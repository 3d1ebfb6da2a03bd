package appservice

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Matrix error codes used in responses.
const (
	codeUnauthorized = "M_UNAUTHORIZED"
	codeForbidden    = "M_FORBIDDEN"
	codeNotFound     = "M_NOT_FOUND"
	codeUnrecognized = "M_UNRECOGNIZED"
	codeTooLarge     = "M_TOO_LARGE"
	codeNotJSON      = "M_NOT_JSON"
	codeBadJSON      = "M_BAD_JSON"
	codeInvalidParam = "M_INVALID_PARAM"
	codeMissingParam = "M_MISSING_PARAM"
	codeUnknown      = "M_UNKNOWN"
)

// Route prefixes: the spec's v1 prefix and the legacy unprefixed paths some
// homeservers still call.
const (
	prefixV1       = "/_matrix/app/v1"
	prefixUnstable = "/_matrix/app/unstable"
)

// matrixError is the JSON body of an error response.
type matrixError struct {
	ErrCode string `json:"errcode"`
	Error   string `json:"error"`
}

// respond writes a Matrix error response.
func respond(c echo.Context, status int, code, msg string) error {
	return c.JSON(status, matrixError{ErrCode: code, Error: msg})
}

// empty is the {} body of successful responses.
var empty = struct{}{}

func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.httpError
	e.Use(s.recoverPanics, s.logRequests, s.authenticate, s.limitBody)
	for _, p := range []string{prefixV1, ""} {
		e.PUT(p+"/transactions/:txnId", s.putTransaction)
		e.GET(p+"/users/:userId", s.getUser)
		e.GET(p+"/rooms/:roomAlias", s.getRoom)
	}
	e.POST(prefixV1+"/ping", s.postPing)
	for _, p := range []string{prefixV1, prefixUnstable} {
		e.GET(p+"/thirdparty/protocol/:protocol", s.getProtocol)
		e.GET(p+"/thirdparty/location/:protocol", s.getLocations)
		e.GET(p+"/thirdparty/user/:protocol", s.getUsers)
		e.GET(p+"/thirdparty/location", s.getLocationsByAlias)
		e.GET(p+"/thirdparty/user", s.getUsersByID)
	}
	return e
}

// httpError turns errors that reach echo into Matrix error responses.
func (s *Server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, msg := http.StatusInternalServerError, codeUnknown, "internal server error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status, msg = he.Code, http.StatusText(he.Code)
		switch he.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			code, msg = codeUnrecognized, "unrecognized request"
		case http.StatusRequestEntityTooLarge:
			code = codeTooLarge
		}
	} else {
		s.log.Error("appservice request failed", "route", c.Path(), "err", err)
	}
	if err := respond(c, status, code, msg); err != nil {
		s.log.Debug("writing error response failed", "err", err)
	}
}

// recoverPanics answers 500 instead of letting a handler panic escape.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic in appservice handler", "route", c.Path(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !c.Response().Committed {
				err = respond(c, http.StatusInternalServerError, codeUnknown, "internal server error")
			}
		}()
		return next(c)
	}
}

// logRequests logs each request at debug level. It logs the route pattern,
// never the URL, whose query may carry the access token.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.log.Enabled(c.Request().Context(), slog.LevelDebug) {
			return next(c) // per request: build no log arguments that are dropped
		}
		start := time.Now()
		err := next(c)
		s.log.Debug("appservice request", "method", c.Request().Method, "route", c.Path(),
			"status", c.Response().Status, "duration", time.Since(start))
		return err
	}
}

// authenticate checks the hs_token on every route (unknown ones included),
// in constant time: both sides are hashed first so that not even the length
// is compared directly.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := accessToken(c.Request())
		if !ok {
			return respond(c, http.StatusUnauthorized, codeUnauthorized, "missing access token")
		}
		sum := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(sum[:], s.tokenHash[:]) != 1 {
			return respond(c, http.StatusForbidden, codeForbidden, "invalid access token")
		}
		return next(c)
	}
}

// accessToken returns the bearer token of the Authorization header or,
// failing that, the legacy access_token query parameter.
func accessToken(r *http.Request) (string, bool) {
	const scheme = "bearer "
	if h := r.Header.Get("Authorization"); len(h) > len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) {
		return strings.TrimSpace(h[len(scheme):]), true
	}
	if t := r.URL.Query().Get("access_token"); t != "" {
		return t, true
	}
	return "", false
}

// limitBody rejects bodies over Options.MaxBodyBytes: at once when the
// Content-Length says so, otherwise when reading passes the limit.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > s.opts.MaxBodyBytes {
			return respond(c, http.StatusRequestEntityTooLarge, codeTooLarge, "request body too large")
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, s.opts.MaxBodyBytes)
		return next(c)
	}
}

// pathParam returns a path parameter percent-decoded (echo leaves it
// encoded when the request path was, as homeservers do with "@" and ":").
func pathParam(c echo.Context, name string) (string, error) {
	v, err := url.PathUnescape(c.Param(name))
	if err != nil {
		return "", fmt.Errorf("path parameter %s: %w", name, err)
	}
	return v, nil
}

// detached returns a context for work a request triggers that must not be
// cut short when the homeserver gives up waiting, bounded by the write
// timeout.
func (s *Server) detached(c echo.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.Request().Context()), s.opts.WriteTimeout)
}
