package main

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

// listener is the appservice side: it accepts the homeserver's
// transactions and counts the events they carry.
type listener struct {
	srv    *http.Server
	events atomic.Int64
	token  []byte
}

// listenAS listens where the registration's url says (http://host:port or
// unix:///path) and serves transactions authenticated with hsToken.
func listenAS(addr, hsToken string) (*listener, error) {
	network, where := "tcp", strings.TrimPrefix(addr, "http://")
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		network, where = "unix", path
		_ = os.Remove(path)
	}
	ln, err := net.Listen(network, where)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	l := &listener{token: []byte("Bearer " + hsToken)}
	l.srv = &http.Server{Handler: l}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

// transaction is what the floor reads of a transaction: enough to know
// which events it carries.
type transaction struct {
	Events []struct {
		Type    string `json:"type"`
		Sender  string `json:"sender"`
		RoomID  string `json:"room_id"`
		EventID string `json:"event_id"`
	} `json:"events"`
}

// ServeHTTP checks the hs_token, reads and decodes a transaction and
// acknowledges it as the bridge does (appservice/transaction.go): 200 with
// no body to Go's HTTP client (Dendrite, which otherwise keeps every
// connection whose body it never reads), "{}" to others. Other requests
// (user and room queries) get 200 {}.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), l.token) != 1 {
		http.Error(w, `{"errcode":"M_FORBIDDEN"}`, http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, "/_matrix/app/v1/transactions/") {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
		return
	}
	body, err := io.ReadAll(r.Body)
	var txn transaction
	if err == nil {
		err = json.Unmarshal(body, &txn)
	}
	if err != nil {
		http.Error(w, `{"errcode":"M_NOT_JSON"}`, http.StatusBadRequest)
		return
	}
	l.events.Add(int64(len(txn.Events)))
	if strings.HasPrefix(r.UserAgent(), "Go-http-client/") {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

func (l *listener) close() { _ = l.srv.Close() }
