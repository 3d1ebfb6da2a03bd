package appservice

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/causewaybridge/causeway/matrix"
)

// maxIDLen is the longest user ID or alias the spec allows.
const maxIDLen = 255

// getUser answers GET /users/{userId}: 200 when the handler says the user
// exists (it may create it), 404 otherwise.
func (s *Server) getUser(c echo.Context) error {
	v, err := pathParam(c, "userId")
	id := matrix.UserID(v)
	if err != nil || len(v) > maxIDLen || !id.Valid() {
		return respond(c, http.StatusBadRequest, codeInvalidParam, "invalid user ID")
	}
	ctx, cancel := s.detached(c)
	defer cancel()
	ok, err := s.opts.Handler.QueryUser(ctx, id)
	if err != nil {
		s.log.Error("user query failed", "user_id", v, "err", err)
		return respond(c, http.StatusInternalServerError, codeUnknown, "user query failed")
	}
	if !ok {
		return respond(c, http.StatusNotFound, codeNotFound, "no such user")
	}
	return c.JSON(http.StatusOK, empty)
}

// getRoom answers GET /rooms/{roomAlias}: 200 when the handler says the
// room exists (it may create it), 404 otherwise.
func (s *Server) getRoom(c echo.Context) error {
	v, err := pathParam(c, "roomAlias")
	alias := matrix.RoomAlias(v)
	if err != nil || len(v) > maxIDLen || !alias.Valid() {
		return respond(c, http.StatusBadRequest, codeInvalidParam, "invalid room alias")
	}
	ctx, cancel := s.detached(c)
	defer cancel()
	ok, err := s.opts.Handler.QueryAlias(ctx, alias)
	if err != nil {
		s.log.Error("alias query failed", "alias", v, "err", err)
		return respond(c, http.StatusInternalServerError, codeUnknown, "alias query failed")
	}
	if !ok {
		return respond(c, http.StatusNotFound, codeNotFound, "no such room alias")
	}
	return c.JSON(http.StatusOK, empty)
}

// postPing answers the homeserver's POST /ping (MSC2659).
func (s *Server) postPing(c echo.Context) error {
	body, ok := readBody(c)
	if !ok {
		return nil
	}
	var ping struct {
		TransactionID string `json:"transaction_id"`
	}
	if len(body) > 0 {
		if !json.Valid(body) {
			return respond(c, http.StatusBadRequest, codeNotJSON, "request body is not valid JSON")
		}
		if err := json.Unmarshal(body, &ping); err != nil {
			return respond(c, http.StatusBadRequest, codeBadJSON, "ping body must be an object")
		}
	}
	s.log.Info("homeserver ping received", "transaction_id", ping.TransactionID)
	return c.JSON(http.StatusOK, empty)
}
