package appservice

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/causewaybridge/causeway/matrix"
)

// ErrUnknownProtocol is returned by a [ThirdPartyHandler] for a protocol it
// does not bridge; the homeserver gets 404 M_NOT_FOUND.
var ErrUnknownProtocol = errors.New("appservice: unknown third-party protocol")

// ThirdPartyHandler answers the third-party lookups of the Appservice API
// (GET /_matrix/app/v1/thirdparty/...). A [Handler] that also implements it
// serves them; otherwise every lookup answers 404 M_NOT_FOUND. Lookups that
// find nothing return an empty slice (answered 404 M_NOT_FOUND, as the spec
// requires).
type ThirdPartyHandler interface {
	// ThirdPartyProtocol describes a protocol, or returns ErrUnknownProtocol.
	ThirdPartyProtocol(ctx context.Context, protocol string) (*Protocol, error)
	// ThirdPartyLocations finds the Matrix rooms bridging the remote
	// locations that match fields (the query parameters).
	ThirdPartyLocations(ctx context.Context, protocol string, fields map[string]string) ([]Location, error)
	// ThirdPartyUsers finds the Matrix users standing for the remote users
	// that match fields.
	ThirdPartyUsers(ctx context.Context, protocol string, fields map[string]string) ([]ThirdPartyUser, error)
	// ThirdPartyLocationsByAlias finds the remote locations a Matrix room
	// alias bridges to.
	ThirdPartyLocationsByAlias(ctx context.Context, alias matrix.RoomAlias) ([]Location, error)
	// ThirdPartyUsersByID finds the remote users a Matrix user ID stands for.
	ThirdPartyUsersByID(ctx context.Context, id matrix.UserID) ([]ThirdPartyUser, error)
}

// Protocol is the metadata of a third-party protocol.
type Protocol struct {
	UserFields     []string             `json:"user_fields"`
	LocationFields []string             `json:"location_fields"`
	Icon           string               `json:"icon"`
	FieldTypes     map[string]FieldType `json:"field_types"`
	Instances      []ProtocolInstance   `json:"instances"`
}

// FieldType describes one lookup field of a protocol.
type FieldType struct {
	Regexp      string `json:"regexp"`
	Placeholder string `json:"placeholder"`
}

// ProtocolInstance is one network of a protocol (an IRC network, an XMPP
// domain).
type ProtocolInstance struct {
	Desc      string            `json:"desc"`
	Icon      string            `json:"icon,omitempty"`
	Fields    map[string]string `json:"fields"`
	NetworkID string            `json:"network_id"`
}

// Location is a remote location (a channel, a MUC) and the alias of the
// Matrix room bridging it.
type Location struct {
	Alias    matrix.RoomAlias  `json:"alias"`
	Protocol string            `json:"protocol"`
	Fields   map[string]string `json:"fields"`
}

// ThirdPartyUser is a remote user and the Matrix user standing for it.
type ThirdPartyUser struct {
	UserID   matrix.UserID     `json:"userid"`
	Protocol string            `json:"protocol"`
	Fields   map[string]string `json:"fields"`
}

// thirdParty returns the handler's ThirdPartyHandler, or answers 404.
func (s *Server) thirdParty(c echo.Context) (ThirdPartyHandler, bool) {
	tp, ok := s.opts.Handler.(ThirdPartyHandler)
	if !ok {
		_ = respond(c, http.StatusNotFound, codeNotFound, "third-party lookups are not supported")
	}
	return tp, ok
}

// lookupFields returns the query parameters as lookup fields, without the
// legacy access token.
func lookupFields(c echo.Context) map[string]string {
	fields := make(map[string]string)
	for k, v := range c.QueryParams() {
		if k != "access_token" && len(v) > 0 {
			fields[k] = v[0]
		}
	}
	return fields
}

// answerLookup writes the result of a third-party lookup.
func answerLookup[T any](s *Server, c echo.Context, what string, res []T, err error) error {
	switch {
	case errors.Is(err, ErrUnknownProtocol):
		return respond(c, http.StatusNotFound, codeNotFound, "unknown protocol")
	case err != nil:
		s.log.Error("third-party lookup failed", "lookup", what, "err", err)
		return respond(c, http.StatusInternalServerError, codeUnknown, "third-party lookup failed")
	case len(res) == 0:
		return respond(c, http.StatusNotFound, codeNotFound, "no mappings found")
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) getProtocol(c echo.Context) error {
	tp, ok := s.thirdParty(c)
	if !ok {
		return nil
	}
	name, err := pathParam(c, "protocol")
	if err != nil {
		return respond(c, http.StatusBadRequest, codeInvalidParam, "invalid protocol")
	}
	p, err := tp.ThirdPartyProtocol(c.Request().Context(), name)
	switch {
	case errors.Is(err, ErrUnknownProtocol) || (err == nil && p == nil):
		return respond(c, http.StatusNotFound, codeNotFound, "unknown protocol")
	case err != nil:
		s.log.Error("third-party protocol lookup failed", "protocol", name, "err", err)
		return respond(c, http.StatusInternalServerError, codeUnknown, "protocol lookup failed")
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) getLocations(c echo.Context) error {
	tp, ok := s.thirdParty(c)
	if !ok {
		return nil
	}
	name, err := pathParam(c, "protocol")
	if err != nil {
		return respond(c, http.StatusBadRequest, codeInvalidParam, "invalid protocol")
	}
	res, err := tp.ThirdPartyLocations(c.Request().Context(), name, lookupFields(c))
	return answerLookup(s, c, "location", res, err)
}

func (s *Server) getUsers(c echo.Context) error {
	tp, ok := s.thirdParty(c)
	if !ok {
		return nil
	}
	name, err := pathParam(c, "protocol")
	if err != nil {
		return respond(c, http.StatusBadRequest, codeInvalidParam, "invalid protocol")
	}
	res, err := tp.ThirdPartyUsers(c.Request().Context(), name, lookupFields(c))
	return answerLookup(s, c, "user", res, err)
}

func (s *Server) getLocationsByAlias(c echo.Context) error {
	tp, ok := s.thirdParty(c)
	if !ok {
		return nil
	}
	v := c.QueryParam("alias")
	if v == "" {
		return respond(c, http.StatusBadRequest, codeMissingParam, "missing alias parameter")
	}
	alias := matrix.RoomAlias(v)
	if len(v) > maxIDLen || !alias.Valid() {
		return respond(c, http.StatusBadRequest, codeInvalidParam, "invalid room alias")
	}
	res, err := tp.ThirdPartyLocationsByAlias(c.Request().Context(), alias)
	return answerLookup(s, c, "location_by_alias", res, err)
}

func (s *Server) getUsersByID(c echo.Context) error {
	tp, ok := s.thirdParty(c)
	if !ok {
		return nil
	}
	v := c.QueryParam("userid")
	if v == "" {
		return respond(c, http.StatusBadRequest, codeMissingParam, "missing userid parameter")
	}
	id := matrix.UserID(v)
	if len(v) > maxIDLen || !id.Valid() {
		return respond(c, http.StatusBadRequest, codeInvalidParam, "invalid user ID")
	}
	res, err := tp.ThirdPartyUsersByID(c.Request().Context(), id)
	return answerLookup(s, c, "user_by_id", res, err)
}
