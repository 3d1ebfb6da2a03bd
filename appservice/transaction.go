package appservice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// maxTxnIDLen bounds the transaction IDs accepted from the homeserver.
const maxTxnIDLen = 255

// transaction is a decoded PUT /transactions body.
type transaction struct {
	pdus      []store.InboxEvent
	events    []*matrix.Event // the decoded pdus, same order
	ephemeral []*matrix.Event
}

// withoutSkipped drops the events skip accepts and returns how many.
func (t *transaction) withoutSkipped(skip func(*matrix.Event) bool) int {
	if skip == nil {
		return 0
	}
	kept := t.pdus[:0]
	for i, p := range t.pdus {
		if !skip(t.events[i]) {
			kept = append(kept, p)
		}
	}
	n := len(t.pdus) - len(kept)
	t.pdus = kept
	return n
}

// badRequest describes why a transaction body was refused.
type badRequest struct {
	code string
	msg  string
}

func (b *badRequest) Error() string { return b.code + ": " + b.msg }

// putTransaction stores the transaction's events durably, answers 200, then
// hands over the ephemeral events.
func (s *Server) putTransaction(c echo.Context) error {
	txnID, err := pathParam(c, "txnId")
	if err != nil || txnID == "" || len(txnID) > maxTxnIDLen {
		return respond(c, http.StatusBadRequest, codeInvalidParam, "invalid transaction ID")
	}
	body, ok := readBody(c)
	if !ok {
		return nil
	}
	txn, err := decodeTransaction(body)
	if err != nil {
		var bad *badRequest
		if errors.As(err, &bad) {
			return respond(c, http.StatusBadRequest, bad.code, bad.msg)
		}
		return err
	}
	log := s.log.With("txn_id", txnID)
	skipped := txn.withoutSkipped(s.opts.SkipEvent)
	if len(txn.pdus) == 0 && len(txn.ephemeral) == 0 {
		// Nothing to store, process or deduplicate (typically a
		// transaction of the bridge's own echoes).
		log.Debug("transaction received", "events", 0, "skipped", skipped)
		return c.JSON(http.StatusOK, empty)
	}
	added, seen, err := s.disp.ingest(c.Request().Context(), txnID, txn.pdus)
	switch {
	case errors.Is(err, errClosed):
		return respond(c, http.StatusServiceUnavailable, codeUnknown, "application service is shutting down")
	case err != nil:
		log.Error("storing transaction failed", "events", len(txn.pdus), "error", err)
		return respond(c, http.StatusInternalServerError, codeUnknown, "storing transaction failed")
	}
	if !seen {
		s.eph.push(txn.ephemeral)
	}
	log.Debug("transaction received", "events", len(txn.pdus), "skipped", skipped, "new_events", added,
		"ephemeral", len(txn.ephemeral), "seen_txn", seen)
	return c.JSON(http.StatusOK, empty)
}

// readBody reads the request body; when that fails it answers the request
// (413 over the size limit) and returns false.
func readBody(c echo.Context) ([]byte, bool) {
	body, err := io.ReadAll(c.Request().Body)
	if err == nil {
		return body, true
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		_ = respond(c, http.StatusRequestEntityTooLarge, codeTooLarge, "request body too large")
	} else {
		_ = respond(c, http.StatusBadRequest, codeUnknown, "reading request body failed")
	}
	return nil, false
}

// decodeTransaction validates a transaction body. Invalid JSON is
// M_NOT_JSON; valid JSON of the wrong shape is M_BAD_JSON. Ephemeral events
// are read from the stable "ephemeral" key, or from the unstable MSC2409 key
// when the stable one is absent; other keys (to-device, device lists) are
// ignored.
func decodeTransaction(body []byte) (*transaction, error) {
	var raw struct {
		Events            json.RawMessage `json:"events"`
		Ephemeral         json.RawMessage `json:"ephemeral"`
		UnstableEphemeral json.RawMessage `json:"de.sorunome.msc2409.ephemeral"`
	}
	// Unmarshal validates as it goes; the separate validity scan is only
	// needed to tell "not JSON" from "JSON of the wrong shape".
	err := json.Unmarshal(body, &raw)
	if err != nil && !json.Valid(body) {
		return nil, &badRequest{codeNotJSON, "request body is not valid JSON"}
	}
	if b := bytes.TrimLeft(body, " \t\r\n"); err != nil || len(b) == 0 || b[0] != '{' {
		return nil, &badRequest{codeBadJSON, "transaction must be a JSON object"}
	}
	pdus, err := decodeEvents(raw.Events, "events", true)
	if err != nil {
		return nil, err
	}
	ephRaw := raw.Ephemeral
	key := "ephemeral"
	if isAbsent(ephRaw) {
		ephRaw, key = raw.UnstableEphemeral, "de.sorunome.msc2409.ephemeral"
	}
	eph, err := decodeEvents(ephRaw, key, false)
	if err != nil {
		return nil, err
	}
	txn := &transaction{pdus: make([]store.InboxEvent, len(pdus)), events: make([]*matrix.Event, len(pdus)), ephemeral: make([]*matrix.Event, len(eph))}
	for i, p := range pdus {
		txn.pdus[i] = store.InboxEvent{EventID: string(p.evt.ID), RoomID: string(p.evt.RoomID), Raw: p.raw}
		txn.events[i] = p.evt
	}
	for i, e := range eph {
		txn.ephemeral[i] = e.evt
	}
	return txn, nil
}

func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

type decodedEvent struct {
	raw json.RawMessage
	evt *matrix.Event
}

// decodeEvents decodes a JSON array of events. Every event needs a type;
// persistent events (pdu) also need an event ID, which deduplication uses.
func decodeEvents(raw json.RawMessage, key string, pdu bool) ([]decodedEvent, error) {
	if isAbsent(raw) {
		return nil, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &badRequest{codeBadJSON, fmt.Sprintf("%q must be an array of events", key)}
	}
	out := make([]decodedEvent, len(list))
	for i, r := range list {
		evt := new(matrix.Event)
		if err := json.Unmarshal(r, evt); err != nil {
			return nil, &badRequest{codeBadJSON, fmt.Sprintf("%s[%d] is not a valid event", key, i)}
		}
		if evt.Type == "" {
			return nil, &badRequest{codeBadJSON, fmt.Sprintf("%s[%d] has no type", key, i)}
		}
		if pdu && evt.ID == "" {
			return nil, &badRequest{codeBadJSON, fmt.Sprintf("%s[%d] has no event_id", key, i)}
		}
		out[i] = decodedEvent{raw: r, evt: evt}
	}
	return out, nil
}
