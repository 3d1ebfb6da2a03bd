package appservice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// maxTxnIDLen bounds the transaction IDs accepted from the homeserver.
const maxTxnIDLen = 255

// transaction is a decoded PUT /transactions body.
type transaction struct {
	// pdus are the timeline and state events. Their Raw aliases the
	// request body until withoutSkipped copies the ones that are kept.
	pdus      []store.InboxEvent
	events    []pduJSON // the decoded pdus, same order
	ephemeral []*matrix.Event
}

// pduJSON is one event of a transaction's "events" array.
type pduJSON struct {
	raw []byte // a slice of the body
	evt matrix.Event
}

// UnmarshalJSON keeps the event's bytes: a slice of the body being decoded,
// which decodeTransaction owns. The event itself is decoded afterwards, not
// from in here: a json.Unmarshal nested in another one needs a deeper stack,
// and every transaction arrives on a fresh goroutine (homeservers tend to
// open a connection per transaction) whose stack would grow each time.
func (p *pduJSON) UnmarshalJSON(b []byte) error {
	p.raw = b
	return nil
}

// withoutSkipped drops the events skip accepts and returns how many. The
// events kept get their own copy of their JSON, so that they do not keep the
// whole request body alive while they wait to be processed.
func (t *transaction) withoutSkipped(skip func(*matrix.Event) bool) int {
	kept := t.pdus[:0]
	for i, p := range t.pdus {
		if skip != nil && skip(&t.events[i].evt) {
			continue
		}
		p.Raw = bytes.Clone(p.Raw)
		kept = append(kept, p)
	}
	n := len(t.pdus) - len(kept)
	t.pdus = kept
	t.events = nil // no longer lines up with pdus
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
	ctx := c.Request().Context()
	// Under a burst the homeserver echoes every bridged message in a
	// transaction of its own: the debug lines are only built when enabled.
	debug := s.log.Enabled(ctx, slog.LevelDebug)
	skipped := txn.withoutSkipped(s.opts.SkipEvent)
	if len(txn.pdus) == 0 && len(txn.ephemeral) == 0 {
		// Nothing to store, process or deduplicate (typically a
		// transaction of the bridge's own echoes).
		if debug {
			s.log.DebugContext(ctx, "transaction received", "txn_id", txnID, "events", 0, "skipped", skipped)
		}
		return s.ack(c)
	}
	added, seen, err := s.disp.ingest(ctx, txnID, txn.pdus)
	switch {
	case errors.Is(err, errClosed):
		return respond(c, http.StatusServiceUnavailable, codeUnknown, "application service is shutting down")
	case err != nil:
		s.log.ErrorContext(ctx, "storing transaction failed", "txn_id", txnID, "events", len(txn.pdus), "err", err)
		return respond(c, http.StatusInternalServerError, codeUnknown, "storing transaction failed")
	}
	if !seen {
		s.eph.push(txn.ephemeral)
	}
	if debug {
		s.log.DebugContext(ctx, "transaction received", "txn_id", txnID, "events", len(txn.pdus), "skipped", skipped,
			"new_events", added, "ephemeral", len(txn.ephemeral), "seen_txn", seen)
	}
	return s.ack(c)
}

// emptyJSON is the body of a successful transaction response, as c.JSON
// would encode empty.
var emptyJSON = []byte("{}\n")

// ack answers a transaction that was stored (or had nothing to store):
// 200 with the spec's "{}", or with no body where Options.AckBody says so.
func (s *Server) ack(c echo.Context) error {
	if s.emptyAck(c.Request()) {
		return c.NoContent(http.StatusOK)
	}
	return c.JSONBlob(http.StatusOK, emptyJSON)
}

// goClientUA starts the User-Agent Go's net/http client sends when the
// caller sets none, as Dendrite does for transactions.
const goClientUA = "Go-http-client/"

// emptyAck reports whether r's 200 answer goes without a body. Dendrite
// 0.15 never reads or closes a transaction's response body, so its HTTP
// client keeps the connection (and a goroutine) of every transaction with
// a body open for good: one file descriptor and tens of KiB per
// transaction (measured: +2,000 descriptors in a 2,000-message burst).
// Without a body nothing is left to read and it lets go of the connection.
func (s *Server) emptyAck(r *http.Request) bool {
	switch s.opts.AckBody {
	case AckBodyEmpty:
		return true
	case AckBodyJSON:
		return false
	default:
		return strings.HasPrefix(r.UserAgent(), goClientUA)
	}
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
// ignored. The returned pdus alias body, which the caller must not change.
func decodeTransaction(body []byte) (*transaction, error) {
	// The first pass finds the events without copying them (pduJSON),
	// the loop below decodes each; the separate validity scan is only
	// needed to tell "not JSON" from "JSON of the wrong shape".
	var raw struct {
		Events            []pduJSON       `json:"events"`
		Ephemeral         json.RawMessage `json:"ephemeral"`
		UnstableEphemeral json.RawMessage `json:"de.sorunome.msc2409.ephemeral"`
	}
	err := json.Unmarshal(body, &raw)
	if err != nil && !json.Valid(body) {
		return nil, &badRequest{codeNotJSON, "request body is not valid JSON"}
	}
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return nil, &badRequest{codeBadJSON, "transaction must be a JSON object"}
	}
	if err != nil {
		// The only typed field: "events" is not an array.
		return nil, &badRequest{codeBadJSON, fmt.Sprintf("%q must be an array of events", "events")}
	}
	for i := range raw.Events {
		p := &raw.Events[i]
		if err := checkEvent(&p.evt, json.Unmarshal(p.raw, &p.evt), "events", i, true); err != nil {
			return nil, err
		}
	}
	ephRaw := raw.Ephemeral
	key := "ephemeral"
	if isAbsent(ephRaw) {
		ephRaw, key = raw.UnstableEphemeral, "de.sorunome.msc2409.ephemeral"
	}
	eph, err := decodeEphemeral(ephRaw, key)
	if err != nil {
		return nil, err
	}
	txn := &transaction{pdus: make([]store.InboxEvent, len(raw.Events)), events: raw.Events, ephemeral: eph}
	for i := range raw.Events {
		p := &raw.Events[i]
		txn.pdus[i] = store.InboxEvent{EventID: string(p.evt.ID), RoomID: string(p.evt.RoomID), Raw: p.raw}
	}
	return txn, nil
}

func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// checkEvent refuses an event that did not decode (decodeErr) or lacks what
// processing needs: every event a type, persistent events (pdu) also an
// event ID, which deduplication uses.
func checkEvent(evt *matrix.Event, decodeErr error, key string, i int, pdu bool) error {
	switch {
	case decodeErr != nil:
		return &badRequest{codeBadJSON, fmt.Sprintf("%s[%d] is not a valid event", key, i)}
	case evt.Type == "":
		return &badRequest{codeBadJSON, fmt.Sprintf("%s[%d] has no type", key, i)}
	case pdu && evt.ID == "":
		return &badRequest{codeBadJSON, fmt.Sprintf("%s[%d] has no event_id", key, i)}
	}
	return nil
}

// decodeEphemeral decodes a JSON array of ephemeral events.
func decodeEphemeral(raw json.RawMessage, key string) ([]*matrix.Event, error) {
	if isAbsent(raw) {
		return nil, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &badRequest{codeBadJSON, fmt.Sprintf("%q must be an array of events", key)}
	}
	out := make([]*matrix.Event, len(list))
	for i, r := range list {
		evt := new(matrix.Event)
		if err := checkEvent(evt, json.Unmarshal(r, evt), key, i, false); err != nil {
			return nil, err
		}
		out[i] = evt
	}
	return out, nil
}
