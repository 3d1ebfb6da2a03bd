package appservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

func TestNewRejectsIncompleteOptions(t *testing.T) {
	cases := []appservice.Options{
		{Inbox: newFakeInbox(), Handler: newRecorder()},
		{HSToken: "x", Handler: newRecorder()},
		{HSToken: "x", Inbox: newFakeInbox()},
	}
	for i, o := range cases {
		if _, err := appservice.New(o); !errors.Is(err, appservice.ErrInvalidOptions) {
			t.Errorf("case %d: New error = %v, want ErrInvalidOptions", i, err)
		}
	}
}

func TestAuth(t *testing.T) {
	logs := &logSink{}
	s := newServer(t, newFakeInbox(), newRecorder(), func(o *appservice.Options) { o.Logger = logs.logger() })
	targets := []struct{ method, path string }{
		{http.MethodPut, "/_matrix/app/v1/transactions/t1"},
		{http.MethodPut, "/transactions/t2"},
		{http.MethodGet, "/_matrix/app/v1/users/@a:example.org"},
		{http.MethodGet, "/_matrix/app/v1/rooms/%23r:example.org"},
		{http.MethodPost, "/_matrix/app/v1/ping"},
		{http.MethodGet, "/_matrix/app/v1/thirdparty/protocol/irc"},
		{http.MethodGet, "/_matrix/app/v1/nonexistent"},
	}
	creds := []struct {
		name    string
		header  string
		query   string
		status  int
		errcode string
	}{
		{"none", "", "", http.StatusUnauthorized, "M_UNAUTHORIZED"},
		{"basic scheme", "Basic " + testToken, "", http.StatusUnauthorized, "M_UNAUTHORIZED"},
		{"wrong header", "Bearer nope", "", http.StatusForbidden, "M_FORBIDDEN"},
		{"token prefix", "Bearer " + testToken[:5], "", http.StatusForbidden, "M_FORBIDDEN"},
		{"wrong query", "", "nope", http.StatusForbidden, "M_FORBIDDEN"},
		{"right header", "Bearer " + testToken, "", 0, ""},
		{"right header lower-case scheme", "bearer " + testToken, "", 0, ""},
		{"right query", "", testToken, 0, ""},
	}
	for i, tg := range targets {
		for j, c := range creds {
			t.Run(tg.path+"/"+c.name, func(t *testing.T) {
				target := tg.path
				if c.query != "" {
					target += "?access_token=" + c.query
				}
				req := httptest.NewRequest(tg.method, target, strings.NewReader(`{"events":[]}`))
				if c.header != "" {
					req.Header.Set("Authorization", c.header)
				}
				rec := httptest.NewRecorder()
				s.HTTPHandler().ServeHTTP(rec, req)
				if c.status != 0 {
					if rec.Code != c.status || errcode(t, rec) != c.errcode {
						t.Fatalf("target %d cred %d: got %d %s, want %d %s", i, j, rec.Code, rec.Body, c.status, c.errcode)
					}
					return
				}
				if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
					t.Fatalf("target %d cred %d: authorised request refused: %d %s", i, j, rec.Code, rec.Body)
				}
			})
		}
	}
	if strings.Contains(logs.String(), testToken[:8]) {
		t.Fatalf("the hs_token appears in the logs:\n%s", logs)
	}
}

func TestBodyTooLarge(t *testing.T) {
	inbox := newFakeInbox()
	s := newServer(t, inbox, newRecorder(), func(o *appservice.Options) { o.MaxBodyBytes = 1024 })
	big := txnBody(t, event("$big", "!r:x"))
	big = append(big[:len(big)-1], []byte(`,"pad":"`+strings.Repeat("x", 2048)+`"}`)...)

	t.Run("content-length", func(t *testing.T) {
		rec := putTxn(s, "big1", big)
		if rec.Code != http.StatusRequestEntityTooLarge || errcode(t, rec) != "M_TOO_LARGE" {
			t.Fatalf("got %d %s, want 413 M_TOO_LARGE", rec.Code, rec.Body)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPut, "/_matrix/app/v1/transactions/big2", io.MultiReader(bytes.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		s.HTTPHandler().ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || errcode(t, rec) != "M_TOO_LARGE" {
			t.Fatalf("got %d %s, want 413 M_TOO_LARGE", rec.Code, rec.Body)
		}
	})
	if n := inbox.stored(); n != 0 {
		t.Fatalf("%d events stored from refused transactions", n)
	}
	if rec := putTxn(s, "small", txnBody(t, event("$small", "!r:x"))); rec.Code != http.StatusOK {
		t.Fatalf("small transaction: %d %s", rec.Code, rec.Body)
	}
}

func TestMalformedTransaction(t *testing.T) {
	cases := []struct {
		body, errcode string
	}{
		{`{"events": [`, "M_NOT_JSON"},
		{`not json`, "M_NOT_JSON"},
		{``, "M_NOT_JSON"},
		{`[]`, "M_BAD_JSON"},
		{`null`, "M_BAD_JSON"},
		{`"events"`, "M_BAD_JSON"},
		{`{"events": {}}`, "M_BAD_JSON"},
		{`{"events": "x"}`, "M_BAD_JSON"},
		{`{"events": [1]}`, "M_BAD_JSON"},
		{`{"events": [null]}`, "M_BAD_JSON"},
		{`{"events": [{"event_id": "$a", "room_id": "!r:x"}]}`, "M_BAD_JSON"},
		{`{"events": [{"type": "m.room.message", "room_id": "!r:x"}]}`, "M_BAD_JSON"},
		{`{"events": [{"type": 5, "event_id": "$a"}]}`, "M_BAD_JSON"},
		{`{"events": [], "ephemeral": {}}`, "M_BAD_JSON"},
		{`{"events": [], "de.sorunome.msc2409.ephemeral": [{"room_id": "!r:x"}]}`, "M_BAD_JSON"},
	}
	inbox := newFakeInbox()
	s := newServer(t, inbox, newRecorder(), nil)
	for i, c := range cases {
		rec := putTxn(s, "bad", []byte(c.body))
		if rec.Code != http.StatusBadRequest || errcode(t, rec) != c.errcode {
			t.Errorf("case %d %q: got %d %s, want 400 %s", i, c.body, rec.Code, rec.Body, c.errcode)
		}
	}
	if n := inbox.stored(); n != 0 {
		t.Fatalf("%d events stored from malformed transactions", n)
	}
	// The refused transaction ID was not recorded: a good redelivery works.
	if rec := putTxn(s, "bad", txnBody(t, event("$ok", "!r:x"))); rec.Code != http.StatusOK || inbox.stored() != 1 {
		t.Fatalf("good redelivery: %d %s, stored %d", rec.Code, rec.Body, inbox.stored())
	}
}

func TestUserAndAliasQueries(t *testing.T) {
	h := newRecorder()
	s := newServer(t, newFakeInbox(), h, nil)
	cases := []struct {
		path    string
		exists  bool
		status  int
		errcode string
		user    matrix.UserID
		alias   matrix.RoomAlias
	}{
		{"/_matrix/app/v1/users/%40alice%3Aexample.org", true, 200, "", "@alice:example.org", ""},
		{"/users/%40alice%3Aexample.org", true, 200, "", "@alice:example.org", ""},
		{"/_matrix/app/v1/users/@bob:example.org", true, 200, "", "@bob:example.org", ""},
		{"/_matrix/app/v1/users/%40irc_a%2Fb%25c%3Aexample.org", true, 200, "", "@irc_a/b%c:example.org", ""},
		{"/_matrix/app/v1/users/%40carol%3Aexample.org", false, 404, "M_NOT_FOUND", "@carol:example.org", ""},
		{"/_matrix/app/v1/users/%40broken%3Aexample.org", true, 500, "M_UNKNOWN", "@broken:example.org", ""},
		{"/_matrix/app/v1/users/alice", true, 400, "M_INVALID_PARAM", "", ""},
		{"/_matrix/app/v1/users/%40alice", true, 400, "M_INVALID_PARAM", "", ""},
		{"/_matrix/app/v1/rooms/%23irc_%23chan%3Aexample.org", true, 200, "", "", "#irc_#chan:example.org"},
		{"/rooms/%23irc_%23chan%3Aexample.org", true, 200, "", "", "#irc_#chan:example.org"},
		{"/_matrix/app/v1/rooms/%23nope%3Aexample.org", false, 404, "M_NOT_FOUND", "", "#nope:example.org"},
		{"/_matrix/app/v1/rooms/%21room%3Aexample.org", true, 400, "M_INVALID_PARAM", "", ""},
	}
	for i, c := range cases {
		h.mu.Lock()
		h.exists, h.users, h.aliases = c.exists, nil, nil
		h.mu.Unlock()
		rec := do(s, http.MethodGet, c.path, nil)
		if rec.Code != c.status || (c.errcode != "" && errcode(t, rec) != c.errcode) {
			t.Errorf("case %d %s: got %d %s, want %d %s", i, c.path, rec.Code, rec.Body, c.status, c.errcode)
		}
		h.mu.Lock()
		var gotUser matrix.UserID
		var gotAlias matrix.RoomAlias
		if len(h.users) == 1 {
			gotUser = h.users[0]
		}
		if len(h.aliases) == 1 {
			gotAlias = h.aliases[0]
		}
		h.mu.Unlock()
		if gotUser != c.user || gotAlias != c.alias {
			t.Errorf("case %d %s: handler saw user %q alias %q, want %q %q", i, c.path, gotUser, gotAlias, c.user, c.alias)
		}
	}
}

func TestPing(t *testing.T) {
	s := newServer(t, newFakeInbox(), newRecorder(), nil)
	rec := do(s, http.MethodPost, "/_matrix/app/v1/ping", []byte(`{"transaction_id":"mautrix-go_1"}`))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Fatalf("ping: %d %s", rec.Code, rec.Body)
	}
	if rec := do(s, http.MethodPost, "/_matrix/app/v1/ping", []byte(`{`)); rec.Code != 400 || errcode(t, rec) != "M_NOT_JSON" {
		t.Fatalf("bad ping: %d %s", rec.Code, rec.Body)
	}
}

func TestUnknownRoutes(t *testing.T) {
	s := newServer(t, newFakeInbox(), newRecorder(), nil)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/_matrix/app/v1/whatever", 404},
		{http.MethodGet, "/", 404},
		{http.MethodGet, "/_matrix/app/v1/transactions/t1", 405},
		{http.MethodDelete, "/_matrix/app/v1/users/@a:b", 405},
	} {
		rec := do(s, c.method, c.path, nil)
		if rec.Code != c.status || errcode(t, rec) != "M_UNRECOGNIZED" {
			t.Errorf("%s %s: got %d %s, want %d M_UNRECOGNIZED", c.method, c.path, rec.Code, rec.Body, c.status)
		}
	}
}

// thirdParty is a recorder that also answers third-party lookups for "irc".
type thirdParty struct {
	*recorder
	lastFields map[string]string
}

func (tp *thirdParty) ThirdPartyProtocol(_ context.Context, p string) (*appservice.Protocol, error) {
	if p != "irc" {
		return nil, appservice.ErrUnknownProtocol
	}
	return &appservice.Protocol{
		UserFields: []string{"network", "nickname"}, LocationFields: []string{"network", "channel"},
		FieldTypes: map[string]appservice.FieldType{"channel": {Regexp: "#[^\\s]+", Placeholder: "#channel"}},
		Instances:  []appservice.ProtocolInstance{{Desc: "Libera", NetworkID: "libera", Fields: map[string]string{"network": "libera"}}},
	}, nil
}

func (tp *thirdParty) ThirdPartyLocations(_ context.Context, p string, f map[string]string) ([]appservice.Location, error) {
	if p != "irc" {
		return nil, appservice.ErrUnknownProtocol
	}
	tp.lastFields = f
	if f["channel"] == "#none" {
		return nil, nil
	}
	return []appservice.Location{{Alias: matrix.RoomAlias("#irc_libera_" + f["channel"] + ":example.org"), Protocol: p, Fields: f}}, nil
}

func (tp *thirdParty) ThirdPartyUsers(_ context.Context, p string, f map[string]string) ([]appservice.ThirdPartyUser, error) {
	if p != "irc" {
		return nil, appservice.ErrUnknownProtocol
	}
	return []appservice.ThirdPartyUser{{UserID: matrix.UserID("@irc_" + f["nickname"] + ":example.org"), Protocol: p, Fields: f}}, nil
}

func (tp *thirdParty) ThirdPartyLocationsByAlias(_ context.Context, a matrix.RoomAlias) ([]appservice.Location, error) {
	return []appservice.Location{{Alias: a, Protocol: "irc", Fields: map[string]string{"channel": "#" + a.Localpart()}}}, nil
}

func (tp *thirdParty) ThirdPartyUsersByID(_ context.Context, id matrix.UserID) ([]appservice.ThirdPartyUser, error) {
	if id.Localpart() == "stranger" {
		return nil, nil
	}
	return []appservice.ThirdPartyUser{{UserID: id, Protocol: "irc", Fields: map[string]string{"nickname": id.Localpart()}}}, nil
}

func TestThirdParty(t *testing.T) {
	tp := &thirdParty{recorder: newRecorder()}
	s := newServer(t, newFakeInbox(), tp, nil)
	const base = "/_matrix/app/v1/thirdparty"
	cases := []struct {
		path    string
		status  int
		errcode string
		want    string // a substring of the JSON answer
	}{
		{base + "/protocol/irc", 200, "", `"network_id":"libera"`},
		{base + "/protocol/xmpp", 404, "M_NOT_FOUND", ""},
		{base + "/location/irc?network=libera&channel=%23go", 200, "", `"alias":"#irc_libera_#go:example.org"`},
		{base + "/location/irc?channel=%23none", 404, "M_NOT_FOUND", ""},
		{base + "/location/xmpp?channel=%23go", 404, "M_NOT_FOUND", ""},
		{base + "/user/irc?nickname=bob", 200, "", `"userid":"@irc_bob:example.org"`},
		{base + "/location?alias=%23irc_go%3Aexample.org", 200, "", `"channel":"#irc_go"`},
		{base + "/location", 400, "M_MISSING_PARAM", ""},
		{base + "/location?alias=nope", 400, "M_INVALID_PARAM", ""},
		{base + "/user?userid=%40irc_bob%3Aexample.org", 200, "", `"nickname":"irc_bob"`},
		{base + "/user?userid=%40stranger%3Aexample.org", 404, "M_NOT_FOUND", ""},
		{"/_matrix/app/unstable/thirdparty/protocol/irc", 200, "", `"user_fields":["network","nickname"]`},
	}
	for i, c := range cases {
		rec := do(s, http.MethodGet, c.path, nil)
		if rec.Code != c.status || (c.errcode != "" && errcode(t, rec) != c.errcode) || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("case %d %s: got %d %s, want %d %s containing %s", i, c.path, rec.Code, rec.Body, c.status, c.errcode, c.want)
		}
	}
	// The legacy access token is not a lookup field.
	req := httptest.NewRequest(http.MethodGet, base+"/location/irc?channel=%23go&access_token="+testToken, nil)
	rec := httptest.NewRecorder()
	s.HTTPHandler().ServeHTTP(rec, req)
	if rec.Code != 200 || len(tp.lastFields) != 1 || tp.lastFields["channel"] != "#go" {
		t.Fatalf("fields = %v (status %d), want only channel=#go", tp.lastFields, rec.Code)
	}

	// A handler without third-party support answers 404 everywhere.
	plain := newServer(t, newFakeInbox(), newRecorder(), nil)
	if rec := do(plain, http.MethodGet, base+"/protocol/irc", nil); rec.Code != 404 || errcode(t, rec) != "M_NOT_FOUND" {
		t.Fatalf("no third-party handler: %d %s", rec.Code, rec.Body)
	}
}

// TestListenerTimeouts checks that a real listener serves requests and drops
// a client that never finishes its headers.
func TestListenerTimeouts(t *testing.T) {
	h := newRecorder()
	s := newServer(t, newFakeInbox(), h, func(o *appservice.Options) {
		o.ListenAddr = "127.0.0.1:0"
		o.ReadHeaderTimeout = 100 * time.Millisecond
	})
	addr := s.Addr().String()
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/_matrix/app/v1/transactions/l1",
		bytes.NewReader(txnBody(t, event("$l1", "!r:x"))))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	poll.Until(t, "event over TCP", 5*time.Second, func() bool { return h.handled() == 1 })

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("PUT /_matrix/app/v1/transactions/x HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server kept a half-sent request open for %v", time.Since(start))
	}
}

func TestStartTwice(t *testing.T) {
	s := newServer(t, newFakeInbox(), newRecorder(), nil)
	if err := s.Start(context.Background()); !errors.Is(err, appservice.ErrStarted) {
		t.Fatalf("second Start: %v, want ErrStarted", err)
	}
}

func TestSuccessBodyIsEmptyObject(t *testing.T) {
	s := newServer(t, newFakeInbox(), newRecorder(), nil)
	rec := putTxn(s, "e1", txnBody(t))
	var got map[string]any
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &got) != nil || len(got) != 0 {
		t.Fatalf("got %d %q, want 200 {}", rec.Code, rec.Body)
	}
}

func TestServeReturnsAfterStop(t *testing.T) {
	h := newRecorder()
	s, err := appservice.New(appservice.Options{HSToken: testToken, Inbox: newFakeInbox(), Handler: h, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background(), ln) }()
	url := "http://" + ln.Addr().String() + "/_matrix/app/v1/ping?access_token=" + testToken
	poll.Until(t, "server to answer", 5*time.Second, func() bool {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{}`))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v after Stop, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Stop")
	}
}
