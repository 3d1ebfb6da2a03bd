package intent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

const (
	testToken  = "as-secret-token"
	testServer = "example.org"
	testBot    = matrix.UserID("@bot:example.org")
)

// recorded is one request seen by the fake homeserver.
type recorded struct {
	Method string
	Path   string
	Query  url.Values
	User   matrix.UserID
	Body   []byte
}

// fakeEvent is one event the fake homeserver accepted.
type fakeEvent struct {
	ID       matrix.EventID
	Room     matrix.RoomID
	Sender   matrix.UserID
	Type     string
	StateKey *string
	Content  json.RawMessage
	TS       string
	Txn      string
}

// hook lets a test answer a request itself. Returning handled=false lets the
// fake homeserver process it normally.
type hook func(w http.ResponseWriter, r *http.Request, rec recorded) (handled bool)

// fakeHS is an in-memory homeserver speaking just enough of the
// client-server API, recording every request.
type fakeHS struct {
	t   testing.TB
	srv *httptest.Server

	mu          sync.Mutex
	reqs        []recorded
	hooks       []hook
	registered  map[matrix.UserID]bool
	members     map[matrix.RoomID]map[matrix.UserID]string
	inviteOnly  map[matrix.RoomID]bool
	events      []fakeEvent
	txns        map[string]matrix.EventID
	aliases     map[matrix.RoomAlias]matrix.RoomID
	media       map[string][]byte
	mediaType   map[string]string
	noV1Media   bool
	syncReplies []string
	nextID      int
	lastCreate  json.RawMessage
}

func newFakeHS(t testing.TB) *fakeHS {
	hs := &fakeHS{
		t:          t,
		registered: map[matrix.UserID]bool{testBot: true},
		members:    map[matrix.RoomID]map[matrix.UserID]string{},
		inviteOnly: map[matrix.RoomID]bool{},
		txns:       map[string]matrix.EventID{},
		aliases:    map[matrix.RoomAlias]matrix.RoomID{},
		media:      map[string][]byte{},
		mediaType:  map[string]string{},
	}
	mux := http.NewServeMux()
	v3 := "/_matrix/client/v3"
	routes := map[string]func(w http.ResponseWriter, r *http.Request, rec recorded){
		"POST " + v3 + "/register":                              hs.register,
		"POST " + v3 + "/join/{room}":                           hs.join,
		"POST " + v3 + "/rooms/{room}/invite":                   hs.membership("invite"),
		"POST " + v3 + "/rooms/{room}/kick":                     hs.membership("leave"),
		"POST " + v3 + "/rooms/{room}/ban":                      hs.membership("ban"),
		"POST " + v3 + "/rooms/{room}/unban":                    hs.membership("leave"),
		"POST " + v3 + "/rooms/{room}/leave":                    hs.leave,
		"PUT " + v3 + "/rooms/{room}/send/{type}/{txn}":         hs.send,
		"PUT " + v3 + "/rooms/{room}/state/{type}/{key...}":     hs.state,
		"GET " + v3 + "/rooms/{room}/state/{type}/{key...}":     hs.getState,
		"PUT " + v3 + "/rooms/{room}/redact/{event}/{txn}":      hs.redact,
		"GET " + v3 + "/rooms/{room}/joined_members":            hs.joinedMembers,
		"GET " + v3 + "/rooms/{room}/messages":                  hs.messages,
		"GET " + v3 + "/rooms/{room}/context/{event}":           hs.context,
		"GET " + v3 + "/rooms/{room}/state":                     hs.roomState,
		"POST " + v3 + "/createRoom":                            hs.createRoom,
		"PUT " + v3 + "/directory/room/{alias}":                 hs.putAlias,
		"GET " + v3 + "/directory/room/{alias}":                 hs.getAlias,
		"POST " + v3 + "/user/{user}/filter":                    hs.ok(`{"filter_id":"7"}`),
		"GET " + v3 + "/sync":                                   hs.sync,
		"PUT " + v3 + "/profile/{user}/{field}":                 hs.ok(`{}`),
		"PUT " + v3 + "/presence/{user}/status":                 hs.ok(`{}`),
		"PUT " + v3 + "/rooms/{room}/typing/{user}":             hs.ok(`{}`),
		"POST " + v3 + "/rooms/{room}/receipt/{type}/{event}":   hs.ok(`{}`),
		"PUT " + v3 + "/directory/list/room/{room}":             hs.ok(`{}`),
		"PUT " + v3 + "/directory/list/appservice/{net}/{room}": hs.ok(`{}`),
		"POST /_matrix/media/v3/upload":                         hs.upload,
		"GET /_matrix/client/v1/media/download/{server}/{id}":   hs.download(true),
		"GET /_matrix/media/v3/download/{server}/{id}":          hs.download(false),
		"POST /_matrix/client/v1/appservice/{id}/ping":          hs.unrecognized,
	}
	for pattern, h := range routes {
		mux.HandleFunc(pattern, hs.wrap(h))
	}
	mux.HandleFunc("/", hs.wrap(hs.unrecognized))
	hs.srv = httptest.NewServer(mux)
	t.Cleanup(hs.srv.Close)
	return hs
}

func (hs *fakeHS) wrap(h func(w http.ResponseWriter, r *http.Request, rec recorded)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, User: testBot}
		if u := r.URL.Query().Get("user_id"); u != "" {
			rec.User = matrix.UserID(u)
		}
		hs.mu.Lock()
		hs.reqs = append(hs.reqs, rec)
		hooks := slices.Clone(hs.hooks)
		hs.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeErr(w, http.StatusUnauthorized, "M_UNKNOWN_TOKEN", "bad token")
			return
		}
		for _, hk := range hooks {
			if hk(w, r, rec) {
				return
			}
		}
		hs.mu.Lock()
		registered := hs.registered[rec.User]
		hs.mu.Unlock()
		if !registered && !strings.HasSuffix(rec.Path, "/register") {
			writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "application service has not registered this user")
			return
		}
		h(w, r, rec)
	}
}

func (hs *fakeHS) addHook(h hook) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.hooks = append(hs.hooks, h)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errcode":%q,"error":%q}`, code, msg)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (hs *fakeHS) ok(body string) func(w http.ResponseWriter, r *http.Request, rec recorded) {
	return func(w http.ResponseWriter, r *http.Request, rec recorded) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func (hs *fakeHS) unrecognized(w http.ResponseWriter, r *http.Request, rec recorded) {
	writeErr(w, http.StatusNotFound, "M_UNRECOGNIZED", "unrecognized request")
}

func (hs *fakeHS) register(w http.ResponseWriter, r *http.Request, rec recorded) {
	var body struct {
		Type     string `json:"type"`
		Username string `json:"username"`
		Inhibit  bool   `json:"inhibit_login"`
	}
	json.Unmarshal(rec.Body, &body)
	if body.Type != "m.login.application_service" || !body.Inhibit {
		writeErr(w, http.StatusBadRequest, "M_BAD_JSON", "want an appservice registration with inhibit_login")
		return
	}
	u := matrix.UserID("@" + body.Username + ":" + testServer)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.registered[u] {
		writeErr(w, http.StatusBadRequest, "M_USER_IN_USE", "taken")
		return
	}
	hs.registered[u] = true
	writeJSON(w, map[string]string{"user_id": string(u)})
}

func (hs *fakeHS) setMember(room matrix.RoomID, u matrix.UserID, m string) {
	if hs.members[room] == nil {
		hs.members[room] = map[matrix.UserID]string{}
	}
	hs.members[room][u] = m
}

func (hs *fakeHS) join(w http.ResponseWriter, r *http.Request, rec recorded) {
	room := matrix.RoomID(r.PathValue("room"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if strings.HasPrefix(string(room), "#") {
		room = hs.aliases[matrix.RoomAlias(room)]
	}
	if hs.inviteOnly[room] && hs.members[room][rec.User] != "invite" && hs.members[room][rec.User] != "join" && rec.User != testBot {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "you are not invited to this room")
		return
	}
	hs.setMember(room, rec.User, "join")
	writeJSON(w, map[string]string{"room_id": string(room)})
}

func (hs *fakeHS) membership(result string) func(w http.ResponseWriter, r *http.Request, rec recorded) {
	return func(w http.ResponseWriter, r *http.Request, rec recorded) {
		room := matrix.RoomID(r.PathValue("room"))
		var body struct {
			UserID matrix.UserID `json:"user_id"`
		}
		json.Unmarshal(rec.Body, &body)
		hs.mu.Lock()
		defer hs.mu.Unlock()
		if hs.members[room][rec.User] != "join" {
			writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "not in room")
			return
		}
		hs.setMember(room, body.UserID, result)
		writeJSON(w, map[string]string{})
	}
}

func (hs *fakeHS) leave(w http.ResponseWriter, r *http.Request, rec recorded) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	room := matrix.RoomID(r.PathValue("room"))
	if m := hs.members[room][rec.User]; m != "join" && m != "invite" {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "user is not in the room")
		return
	}
	hs.setMember(room, rec.User, "leave")
	writeJSON(w, map[string]string{})
}

// addEvent stores an event, deduplicating on (sender, txn); hs.mu is held.
func (hs *fakeHS) addEvent(ev fakeEvent) matrix.EventID {
	if ev.Txn != "" {
		if id, ok := hs.txns[string(ev.Sender)+"|"+ev.Txn]; ok {
			return id
		}
	}
	hs.nextID++
	ev.ID = matrix.EventID(fmt.Sprintf("$ev%d", hs.nextID))
	hs.events = append(hs.events, ev)
	if ev.Txn != "" {
		hs.txns[string(ev.Sender)+"|"+ev.Txn] = ev.ID
	}
	return ev.ID
}

func (hs *fakeHS) send(w http.ResponseWriter, r *http.Request, rec recorded) {
	room := matrix.RoomID(r.PathValue("room"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.members[room][rec.User] != "join" {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "user not in room")
		return
	}
	id := hs.addEvent(fakeEvent{Room: room, Sender: rec.User, Type: r.PathValue("type"), Content: rec.Body,
		TS: rec.Query.Get("ts"), Txn: r.PathValue("txn")})
	writeJSON(w, map[string]string{"event_id": string(id)})
}

// messages answers GET /rooms/{room}/messages: dir=b newest first from
// the token (default: the end), dir=f oldest first (default: the start),
// honouring the senders and types of the filter. Tokens are "p<n>", a
// position in the fake's event list: backward pages read the events
// before it, forward pages those from it on; end is "" once nothing is
// left.
func (hs *fakeHS) messages(w http.ResponseWriter, r *http.Request, rec recorded) {
	room := matrix.RoomID(r.PathValue("room"))
	var filter struct {
		Senders []matrix.UserID `json:"senders"`
		Types   []string        `json:"types"`
	}
	_ = json.Unmarshal([]byte(rec.Query.Get("filter")), &filter)
	limit, _ := strconv.Atoi(rec.Query.Get("limit"))
	if limit <= 0 {
		limit = 10
	}
	backward := rec.Query.Get("dir") != "f"
	hs.mu.Lock()
	defer hs.mu.Unlock()
	pos := 0
	if backward {
		pos = len(hs.events)
	}
	if from := rec.Query.Get("from"); from != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(from, "p"))
		if err != nil || n < 0 || n > len(hs.events) {
			writeErr(w, http.StatusBadRequest, "M_INVALID_PARAM", "bad token")
			return
		}
		pos = n
	}
	match := func(ev fakeEvent) bool {
		return ev.Room == room && (len(filter.Senders) == 0 || slices.Contains(filter.Senders, ev.Sender)) &&
			(len(filter.Types) == 0 || slices.Contains(filter.Types, ev.Type))
	}
	chunk := []map[string]any{}
	end := ""
	if backward {
		i := pos - 1
		for ; i >= 0 && len(chunk) < limit; i-- {
			if match(hs.events[i]) {
				chunk = append(chunk, hs.events[i].client(i))
			}
		}
		if i >= 0 {
			end = fmt.Sprintf("p%d", i+1)
		}
	} else {
		i := pos
		for ; i < len(hs.events) && len(chunk) < limit; i++ {
			if match(hs.events[i]) {
				chunk = append(chunk, hs.events[i].client(i))
			}
		}
		if i < len(hs.events) {
			end = fmt.Sprintf("p%d", i)
		}
	}
	writeJSON(w, map[string]any{"chunk": chunk, "start": fmt.Sprintf("p%d", pos), "end": end})
}

// context answers GET /rooms/{room}/context/{event}: up to limit events
// of the room on either side, start and end as tokens of messages.
func (hs *fakeHS) context(w http.ResponseWriter, r *http.Request, rec recorded) {
	room := matrix.RoomID(r.PathValue("room"))
	limit, _ := strconv.Atoi(rec.Query.Get("limit"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	k := slices.IndexFunc(hs.events, func(ev fakeEvent) bool { return ev.Room == room && ev.ID == matrix.EventID(r.PathValue("event")) })
	if k < 0 {
		writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no such event")
		return
	}
	before, after := []map[string]any{}, []map[string]any{}
	start, end := k, k+1
	for i := k - 1; i >= 0 && len(before) < limit; i-- {
		if hs.events[i].Room == room {
			before, start = append(before, hs.events[i].client(i)), i
		}
	}
	for i := k + 1; i < len(hs.events) && len(after) < limit; i++ {
		if hs.events[i].Room == room {
			after, end = append(after, hs.events[i].client(i)), i+1
		}
	}
	writeJSON(w, map[string]any{"event": hs.events[k].client(k), "events_before": before, "events_after": after,
		"start": fmt.Sprintf("p%d", start), "end": fmt.Sprintf("p%d", end)})
}

// roomState answers GET /rooms/{room}/state: the newest state event of
// each type and key.
func (hs *fakeHS) roomState(w http.ResponseWriter, r *http.Request, rec recorded) {
	room := matrix.RoomID(r.PathValue("room"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	seen := map[[2]string]bool{}
	out := []map[string]any{}
	for i := len(hs.events) - 1; i >= 0; i-- {
		ev := hs.events[i]
		if ev.Room != room || ev.StateKey == nil || seen[[2]string{ev.Type, *ev.StateKey}] {
			continue
		}
		seen[[2]string{ev.Type, *ev.StateKey}] = true
		out = append(out, ev.client(i))
	}
	writeJSON(w, out)
}

// client is the event at position i as the client-server API shows it;
// without a ts, its origin_server_ts is i seconds after the epoch.
func (ev fakeEvent) client(i int) map[string]any {
	ts := int64(i) * 1000
	if n, err := strconv.ParseInt(ev.TS, 10, 64); err == nil {
		ts = n
	}
	out := map[string]any{"event_id": ev.ID, "room_id": ev.Room, "sender": ev.Sender, "type": ev.Type,
		"content": ev.Content, "origin_server_ts": ts}
	if ev.StateKey != nil {
		out["state_key"] = *ev.StateKey
	}
	return out
}

// forgetTxns makes the fake forget every transaction ID, as Dendrite does
// for a request whose client disconnected.
func (hs *fakeHS) forgetTxns() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	clear(hs.txns)
}

func (hs *fakeHS) redact(w http.ResponseWriter, r *http.Request, rec recorded) {
	room := matrix.RoomID(r.PathValue("room"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.members[room][rec.User] != "join" {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "user not in room")
		return
	}
	id := hs.addEvent(fakeEvent{Room: room, Sender: rec.User, Type: matrix.EventRedaction, Content: rec.Body,
		TS: rec.Query.Get("ts"), Txn: r.PathValue("txn")})
	writeJSON(w, map[string]string{"event_id": string(id)})
}

func (hs *fakeHS) state(w http.ResponseWriter, r *http.Request, rec recorded) {
	room := matrix.RoomID(r.PathValue("room"))
	key := r.PathValue("key")
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.members[room][rec.User] != "join" {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "user not in room")
		return
	}
	id := hs.addEvent(fakeEvent{Room: room, Sender: rec.User, Type: r.PathValue("type"), StateKey: &key,
		Content: rec.Body, TS: rec.Query.Get("ts")})
	writeJSON(w, map[string]string{"event_id": string(id)})
}

func (hs *fakeHS) getState(w http.ResponseWriter, r *http.Request, rec recorded) {
	room := matrix.RoomID(r.PathValue("room"))
	typ, key := r.PathValue("type"), r.PathValue("key")
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for i := len(hs.events) - 1; i >= 0; i-- {
		ev := hs.events[i]
		if ev.Room == room && ev.Type == typ && ev.StateKey != nil && *ev.StateKey == key {
			w.Header().Set("Content-Type", "application/json")
			w.Write(ev.Content)
			return
		}
	}
	writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no such state")
}

func (hs *fakeHS) joinedMembers(w http.ResponseWriter, r *http.Request, rec recorded) {
	room := matrix.RoomID(r.PathValue("room"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	joined := map[matrix.UserID]Member{}
	for u, m := range hs.members[room] {
		if m == "join" {
			joined[u] = Member{}
		}
	}
	writeJSON(w, map[string]any{"joined": joined})
}

func (hs *fakeHS) createRoom(w http.ResponseWriter, r *http.Request, rec recorded) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.nextID++
	room := matrix.RoomID(fmt.Sprintf("!room%d:%s", hs.nextID, testServer))
	hs.setMember(room, rec.User, "join")
	hs.lastCreate = rec.Body
	writeJSON(w, map[string]string{"room_id": string(room)})
}

func (hs *fakeHS) putAlias(w http.ResponseWriter, r *http.Request, rec recorded) {
	var body struct {
		RoomID matrix.RoomID `json:"room_id"`
	}
	json.Unmarshal(rec.Body, &body)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.aliases[matrix.RoomAlias(r.PathValue("alias"))] = body.RoomID
	writeJSON(w, map[string]string{})
}

func (hs *fakeHS) getAlias(w http.ResponseWriter, r *http.Request, rec recorded) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	room, ok := hs.aliases[matrix.RoomAlias(r.PathValue("alias"))]
	if !ok {
		writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no alias")
		return
	}
	writeJSON(w, map[string]any{"room_id": room, "servers": []string{testServer}})
}

func (hs *fakeHS) upload(w http.ResponseWriter, r *http.Request, rec recorded) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.nextID++
	id := fmt.Sprintf("media%d", hs.nextID)
	hs.media[id] = rec.Body
	hs.mediaType[id] = r.Header.Get("Content-Type")
	writeJSON(w, map[string]string{"content_uri": "mxc://" + testServer + "/" + id})
}

func (hs *fakeHS) download(v1 bool) func(w http.ResponseWriter, r *http.Request, rec recorded) {
	return func(w http.ResponseWriter, r *http.Request, rec recorded) {
		hs.mu.Lock()
		defer hs.mu.Unlock()
		if v1 && hs.noV1Media {
			writeErr(w, http.StatusNotFound, "M_UNRECOGNIZED", "unknown endpoint")
			return
		}
		data, ok := hs.media[r.PathValue("id")]
		if !ok || r.PathValue("server") != testServer {
			writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no media")
			return
		}
		w.Header().Set("Content-Type", hs.mediaType[r.PathValue("id")])
		w.Write(data)
	}
}

// sync answers with the queued replies in order, then long-polls until the
// client gives up.
func (hs *fakeHS) sync(w http.ResponseWriter, r *http.Request, rec recorded) {
	hs.mu.Lock()
	if len(hs.syncReplies) == 0 {
		hs.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
		writeJSON(w, map[string]string{"next_batch": "end"})
		return
	}
	reply := hs.syncReplies[0]
	hs.syncReplies = hs.syncReplies[1:]
	hs.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, reply)
}

// requests returns the recorded requests whose method matches and whose path
// contains part.
func (hs *fakeHS) requests(method, part string) []recorded {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []recorded
	for _, r := range hs.reqs {
		if r.Method == method && strings.Contains(r.Path, part) {
			out = append(out, r)
		}
	}
	return out
}

// roomEvents returns the events accepted in room, in order.
func (hs *fakeHS) roomEvents(room matrix.RoomID) []fakeEvent {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []fakeEvent
	for _, ev := range hs.events {
		if ev.Room == room {
			out = append(out, ev)
		}
	}
	return out
}

func (hs *fakeHS) makeRoom(room matrix.RoomID, inviteOnly bool, joined ...matrix.UserID) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.inviteOnly[room] = inviteOnly
	for _, u := range joined {
		hs.registered[u] = true
		hs.setMember(room, u, "join")
	}
}

// fastRetry makes tests quick while keeping the shape of the backoff.
var fastRetry = RetryPolicy{MaxAttempts: 5, BaseDelay: 5 * time.Millisecond, MaxDelay: 40 * time.Millisecond}

func newTestClient(t testing.TB, hs *fakeHS, st StateStore) *Client {
	t.Helper()
	c, err := New(Options{
		HomeserverURL: hs.srv.URL,
		ASToken:       testToken,
		ServerName:    testServer,
		BotLocalpart:  "bot",
		StateStore:    st,
		Retry:         fastRetry,
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// memStateStore is an in-memory StateStore.
type memStateStore struct {
	mu          sync.Mutex
	registered  map[string]bool
	memberships map[[2]string]string
}

func newMemStateStore() *memStateStore {
	return &memStateStore{registered: map[string]bool{}, memberships: map[[2]string]string{}}
}

func (s *memStateStore) MarkRegistered(_ context.Context, u string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registered[u] = true
	return nil
}

func (s *memStateStore) IsRegistered(_ context.Context, u string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.registered[u], nil
}

func (s *memStateStore) SetMembership(_ context.Context, room, u, m string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.memberships[[2]string{room, u}] = m
	return nil
}

func (s *memStateStore) Membership(_ context.Context, room, u string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.memberships[[2]string{room, u}], nil
}

// memOutboxStore is an in-memory OutboxStore with the semantics of the SQL
// store: global sequence, (queue, key) dedupe with empty keys never
// conflicting, pending items oldest first.
type memOutboxStore struct {
	mu       sync.Mutex
	seq      int64
	items    []store.OutboxItem
	state    map[int64]string // "", "done", "failed"
	result   map[int64]string
	lastErr  map[int64]string
	attempts map[int64]int
	batches  []int // sizes of the completion batches
	links    []store.MessageLink
	staged   []store.MessageLink
}

func newMemOutboxStore() *memOutboxStore {
	return &memOutboxStore{state: map[int64]string{}, result: map[int64]string{}, lastErr: map[int64]string{}, attempts: map[int64]int{}}
}

func (s *memOutboxStore) Enqueue(_ context.Context, it store.OutboxItem) (store.OutboxItem, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it.Key != "" {
		for _, old := range s.items {
			if old.Queue == it.Queue && old.Key == it.Key {
				return old, true, nil
			}
		}
	}
	s.seq++
	it.Seq = s.seq
	it.Created = time.Now().Truncate(time.Microsecond)
	s.items = append(s.items, it)
	return it, false, nil
}

func (s *memOutboxStore) PendingOutbox(_ context.Context, limit int) ([]store.OutboxItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.OutboxItem
	for _, it := range s.items {
		if s.state[it.Seq] == "" && len(out) < limit {
			it.Attempts = s.attempts[it.Seq]
			out = append(out, it)
		}
	}
	return out, nil
}

func (s *memOutboxStore) CompleteOutboxBatch(_ context.Context, done []store.OutboxCompletion) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, len(done))
	for _, d := range done {
		s.state[d.Seq] = "done"
		s.result[d.Seq] = d.Result
		if d.Link != nil {
			s.links = append(s.links, *d.Link)
		}
	}
	return nil
}

func (s *memOutboxStore) StageLink(l store.MessageLink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staged = append(s.staged, l)
}

func (s *memOutboxStore) RecordOutboxAttempt(_ context.Context, seq int64, errText string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[seq]++
	s.lastErr[seq] = errText
	return nil
}

func (s *memOutboxStore) FailOutbox(_ context.Context, seq int64, errText string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state[seq] = "failed"
	s.lastErr[seq] = errText
	return nil
}

func (s *memOutboxStore) counts() (pending, done, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.items {
		switch s.state[it.Seq] {
		case "":
			pending++
		case "done":
			done++
		case "failed":
			failed++
		}
	}
	return
}
