package appservice_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/causewaybridge/causeway/appservice"
)

// TestAckBody: a stored transaction is answered 200 "{}" as the spec
// shows, except to Go's default HTTP client (Dendrite, which never closes
// the body and so would keep every transaction's connection open), which
// gets no body in auto mode; json and empty force either answer.
func TestAckBody(t *testing.T) {
	const goUA, synapseUA = "Go-http-client/1.1", "Synapse/1.120.0"
	for i, tc := range []struct {
		mode      appservice.AckBody
		userAgent string
		want      string
	}{
		{"", goUA, ""},
		{appservice.AckBodyAuto, goUA, ""},
		{appservice.AckBodyAuto, synapseUA, "{}\n"},
		{appservice.AckBodyAuto, "", "{}\n"},
		{appservice.AckBodyJSON, goUA, "{}\n"},
		{appservice.AckBodyEmpty, synapseUA, ""},
	} {
		s := newServer(t, newFakeInbox(), newRecorder(), func(o *appservice.Options) { o.AckBody = tc.mode })
		for j, body := range [][]byte{txnBody(t), txnBody(t, event("$e1", "!r:x"))} {
			req := httptest.NewRequest(http.MethodPut, fmt.Sprintf("/_matrix/app/v1/transactions/t%d-%d", i, j), bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("User-Agent", tc.userAgent)
			rec := httptest.NewRecorder()
			s.HTTPHandler().ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || rec.Body.String() != tc.want {
				t.Errorf("mode %q, User-Agent %q: %d %q; want 200 %q", tc.mode, tc.userAgent, rec.Code, rec.Body.String(), tc.want)
			}
		}
	}
	// Errors keep their JSON body whatever the mode.
	s := newServer(t, newFakeInbox(), newRecorder(), func(o *appservice.Options) { o.AckBody = appservice.AckBodyEmpty })
	if rec := putTxn(s, "bad", []byte("{not json")); rec.Code != http.StatusBadRequest || errcode(t, rec) != "M_NOT_JSON" {
		t.Errorf("malformed transaction: %d %q", rec.Code, rec.Body.String())
	}
}

func TestAckBodyInvalid(t *testing.T) {
	_, err := appservice.New(appservice.Options{HSToken: testToken, Inbox: newFakeInbox(), Handler: newRecorder(), AckBody: "none"})
	if !errors.Is(err, appservice.ErrInvalidOptions) {
		t.Fatalf("New with ack body %q: %v, want ErrInvalidOptions", "none", err)
	}
}
