package fakehs

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

// ASToken is the appservice token the fake homeserver accepts.
const ASToken = "fakehs-as-token"

// Request is one request the fake homeserver received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// User is the user the appservice acted as (?user_id=, else the bot).
	User matrix.UserID
	Body []byte
	// Status is the status of the answer (0 while it is being answered).
	Status int
}

// Event is an event the fake homeserver accepted (sent, state, or the
// initial state of a created room).
type Event struct {
	ID       matrix.EventID
	Room     matrix.RoomID
	Sender   matrix.UserID
	Type     string
	StateKey *string
	Content  json.RawMessage
	// Redacts is the event a redaction redacts.
	Redacts matrix.EventID
	// Unsigned is the event's unsigned block as the server shows it
	// (say redacted_because for a redacted event, or m.relations with a
	// bundled edit); the fake computes none itself.
	Unsigned json.RawMessage
	// TS is the event's origin_server_ts in ms (0: its position in
	// the server's events, in seconds).
	TS int64
}

// Homeserver is an in-process fake Matrix homeserver (httptest) speaking
// the part of the client-server API that module unit tests need: user
// registration, createRoom, joins and membership changes, message and
// state events, fetching an event, a room's timeline (messages and
// context, see timeline.go), redactions, aliases, profiles, presence,
// typing and the room directories. It keeps what it was told, checks the
// appservice token and that users are registered and in the rooms they
// act in, and records every request. It is safe for concurrent use.
type Homeserver struct {
	// URL is the server's base URL.
	URL string
	// ServerName is the server name of the user and room IDs it makes.
	ServerName string
	// Bot is the appservice's bot, registered from the start.
	Bot matrix.UserID

	mu         sync.Mutex
	reqs       []Request
	registered map[matrix.UserID]bool
	members    map[matrix.RoomID]map[matrix.UserID]string
	events     []Event
	aliases    map[matrix.RoomAlias]matrix.RoomID
	profiles   map[matrix.UserID]map[string]string
	presence   map[matrix.UserID]json.RawMessage
	creates    []json.RawMessage
	next       int
	override   map[string]http.HandlerFunc
	public     []PublicRoom
	// forwardNeedsFrom: see ForwardNeedsToken.
	forwardNeedsFrom bool
}

// New starts a fake homeserver for server name server whose
// appservice bot is bot; it is closed when the test ends.
func New(t testing.TB, server string, bot matrix.UserID) *Homeserver {
	hs := &Homeserver{
		ServerName: server,
		Bot:        bot,
		registered: map[matrix.UserID]bool{bot: true},
		members:    map[matrix.RoomID]map[matrix.UserID]string{},
		aliases:    map[matrix.RoomAlias]matrix.RoomID{},
		profiles:   map[matrix.UserID]map[string]string{},
		presence:   map[matrix.UserID]json.RawMessage{},
		override:   map[string]http.HandlerFunc{},
	}
	v3 := "/_matrix/client/v3"
	routes := map[string]func(w http.ResponseWriter, r *http.Request, rec Request){
		"POST " + v3 + "/register":                              hs.register,
		"POST " + v3 + "/createRoom":                            hs.createRoom,
		"POST " + v3 + "/join/{room}":                           hs.join,
		"POST " + v3 + "/rooms/{room}/join":                     hs.join,
		"POST " + v3 + "/rooms/{room}/leave":                    hs.membership("leave", false),
		"POST " + v3 + "/rooms/{room}/invite":                   hs.membership("invite", true),
		"POST " + v3 + "/rooms/{room}/kick":                     hs.membership("leave", true),
		"POST " + v3 + "/rooms/{room}/ban":                      hs.membership("ban", true),
		"POST " + v3 + "/rooms/{room}/unban":                    hs.membership("leave", true),
		"PUT " + v3 + "/rooms/{room}/send/{type}/{txn}":         hs.send,
		"PUT " + v3 + "/rooms/{room}/state/{type}/{key...}":     hs.putState,
		"GET " + v3 + "/rooms/{room}/state/{type}/{key...}":     hs.getState,
		"GET " + v3 + "/rooms/{room}/joined_members":            hs.joinedMembers,
		"GET " + v3 + "/rooms/{room}/members":                   hs.roomMembers,
		"GET " + v3 + "/rooms/{room}/event/{event}":             hs.getEvent,
		"GET " + v3 + "/rooms/{room}/messages":                  hs.messages,
		"GET " + v3 + "/rooms/{room}/context/{event}":           hs.context,
		"GET " + v3 + "/rooms/{room}/state":                     hs.roomState,
		"PUT " + v3 + "/rooms/{room}/redact/{event}/{txn}":      hs.redact,
		"PUT " + v3 + "/rooms/{room}/typing/{user}":             answer(`{}`),
		"POST " + v3 + "/rooms/{room}/receipt/{type}/{event}":   answer(`{}`),
		"PUT " + v3 + "/directory/room/{alias}":                 hs.putAlias,
		"GET " + v3 + "/directory/room/{alias}":                 hs.getAlias,
		"PUT " + v3 + "/directory/list/room/{room}":             answer(`{}`),
		"PUT " + v3 + "/directory/list/appservice/{net}/{room}": answer(`{}`),
		"PUT " + v3 + "/profile/{user}/{field}":                 hs.putProfile,
		"GET " + v3 + "/profile/{user}":                         hs.getProfile,
		"GET " + v3 + "/publicRooms":                            hs.publicRooms,
		"GET " + v3 + "/profile/{user}/{field}":                 hs.getProfile,
		"PUT " + v3 + "/presence/{user}/status":                 hs.putPresence,
		"GET " + v3 + "/presence/{user}/status":                 hs.getPresence,
	}
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, hs.wrap(pattern, h))
	}
	mux.HandleFunc("/", hs.wrap("", func(w http.ResponseWriter, r *http.Request, rec Request) {
		writeErr(w, http.StatusNotFound, "M_UNRECOGNIZED", "unrecognized request")
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	hs.URL = srv.URL
	return hs
}

// Handle makes the server answer the requests of a route with h instead
// (after recording them and checking the token). pattern is one of the
// routes' patterns as written in New, such as
// "POST /_matrix/client/v3/createRoom".
func (hs *Homeserver) Handle(pattern string, h http.HandlerFunc) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.override[pattern] = h
}

func (hs *Homeserver) wrap(pattern string, h func(w http.ResponseWriter, r *http.Request, rec Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), User: hs.Bot, Body: body}
		if u := r.URL.Query().Get("user_id"); u != "" {
			rec.User = matrix.UserID(u)
		}
		hs.mu.Lock()
		i := len(hs.reqs)
		hs.reqs = append(hs.reqs, rec)
		over := hs.override[pattern]
		registered := hs.registered[rec.User]
		hs.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		defer func() {
			hs.mu.Lock()
			hs.reqs[i].Status = cmp.Or(sw.status, http.StatusOK)
			hs.mu.Unlock()
		}()
		if pattern == "GET /_matrix/client/v3/publicRooms" && r.Header.Get("Authorization") == "" {
			hs.publicRooms(w, r, rec) // the public directory needs no token
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+ASToken {
			writeErr(w, http.StatusUnauthorized, "M_UNKNOWN_TOKEN", "bad token")
			return
		}
		if over != nil {
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			over(w, r)
			return
		}
		if !registered && !strings.HasSuffix(rec.Path, "/register") {
			writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "application service has not registered this user")
			return
		}
		h(w, r, rec)
	}
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errcode":%q,"error":%q}`, code, msg)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func answer(body string) func(w http.ResponseWriter, r *http.Request, rec Request) {
	return func(w http.ResponseWriter, r *http.Request, rec Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

// Requests returns the requests received so far, in order.
func (hs *Homeserver) Requests() []Request {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return slices.Clone(hs.reqs)
}

// CreateRoomBodies returns the bodies of the createRoom requests, in order.
func (hs *Homeserver) CreateRoomBodies() []json.RawMessage {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return slices.Clone(hs.creates)
}

// Events returns the events accepted in room, oldest first.
func (hs *Homeserver) Events(room matrix.RoomID) []Event {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []Event
	for _, e := range hs.events {
		if e.Room == room {
			out = append(out, e)
		}
	}
	return out
}

// Membership returns user's membership in room ("" for none).
func (hs *Homeserver) Membership(room matrix.RoomID, user matrix.UserID) string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.members[room][user]
}

// Registered reports whether the appservice registered user.
func (hs *Homeserver) Registered(user matrix.UserID) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.registered[user]
}

// Profile returns a user's profile field ("displayname", "avatar_url").
func (hs *Homeserver) Profile(user matrix.UserID, field string) string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.profiles[user][field]
}

// Alias returns the room an alias points to ("" for none).
func (hs *Homeserver) Alias(alias matrix.RoomAlias) matrix.RoomID {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.aliases[alias]
}

// SetMembership sets user's membership in room, as if another client had
// changed it (say "invite" before a puppet joins an invite-only room).
func (hs *Homeserver) SetMembership(room matrix.RoomID, user matrix.UserID, membership string) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.setMember(room, user, membership)
}

// PutEvent adds e as if another client had sent it, keeping e.ID when it
// is set, and returns its ID.
func (hs *Homeserver) PutEvent(e Event) matrix.EventID {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.addEvent(e)
}

// setMember needs hs.mu.
func (hs *Homeserver) setMember(room matrix.RoomID, u matrix.UserID, m string) {
	if hs.members[room] == nil {
		hs.members[room] = map[matrix.UserID]string{}
	}
	hs.members[room][u] = m
}

// addEvent needs hs.mu.
func (hs *Homeserver) addEvent(e Event) matrix.EventID {
	if e.ID == "" {
		hs.next++
		e.ID = matrix.EventID(fmt.Sprintf("$e%d:%s", hs.next, hs.ServerName))
	}
	hs.events = append(hs.events, e)
	return e.ID
}

func (hs *Homeserver) register(w http.ResponseWriter, r *http.Request, rec Request) {
	var body struct {
		Type     string `json:"type"`
		Username string `json:"username"`
	}
	_ = json.Unmarshal(rec.Body, &body)
	if body.Type != "m.login.application_service" || body.Username == "" {
		writeErr(w, http.StatusBadRequest, "M_BAD_JSON", "want an appservice registration")
		return
	}
	u := matrix.UserID("@" + body.Username + ":" + hs.ServerName)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.registered[u] {
		writeErr(w, http.StatusBadRequest, "M_USER_IN_USE", "taken")
		return
	}
	hs.registered[u] = true
	writeJSON(w, map[string]string{"user_id": string(u)})
}

func (hs *Homeserver) createRoom(w http.ResponseWriter, r *http.Request, rec Request) {
	var body struct {
		RoomAliasName string          `json:"room_alias_name"`
		Name          string          `json:"name"`
		Topic         string          `json:"topic"`
		Invite        []matrix.UserID `json:"invite"`
		InitialState  []struct {
			Type     string          `json:"type"`
			StateKey string          `json:"state_key"`
			Content  json.RawMessage `json:"content"`
		} `json:"initial_state"`
	}
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		writeErr(w, http.StatusBadRequest, "M_BAD_JSON", err.Error())
		return
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	alias := matrix.RoomAlias("#" + body.RoomAliasName + ":" + hs.ServerName)
	if body.RoomAliasName != "" && hs.aliases[alias] != "" {
		writeErr(w, http.StatusBadRequest, "M_ROOM_IN_USE", "alias taken")
		return
	}
	hs.next++
	room := matrix.RoomID(fmt.Sprintf("!r%d:%s", hs.next, hs.ServerName))
	hs.creates = append(hs.creates, rec.Body)
	hs.setMember(room, rec.User, "join")
	for _, u := range body.Invite {
		hs.setMember(room, u, "invite")
	}
	if body.RoomAliasName != "" {
		hs.aliases[alias] = room
	}
	state := func(typ, key string, content any) {
		raw, _ := json.Marshal(content)
		hs.addEvent(Event{Room: room, Sender: rec.User, Type: typ, StateKey: &key, Content: raw})
	}
	if body.Name != "" {
		state(matrix.EventName, "", map[string]string{"name": body.Name})
	}
	if body.Topic != "" {
		state(matrix.EventTopic, "", map[string]string{"topic": body.Topic})
	}
	for _, s := range body.InitialState {
		state(s.Type, s.StateKey, s.Content)
	}
	writeJSON(w, map[string]string{"room_id": string(room)})
}

func (hs *Homeserver) roomOf(s string) matrix.RoomID {
	if strings.HasPrefix(s, "#") {
		return hs.aliases[matrix.RoomAlias(s)]
	}
	return matrix.RoomID(s)
}

func (hs *Homeserver) join(w http.ResponseWriter, r *http.Request, rec Request) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	room := hs.roomOf(r.PathValue("room"))
	if room == "" {
		writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no such room")
		return
	}
	if hs.members[room][rec.User] == "ban" {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "you are banned from this room")
		return
	}
	hs.setMember(room, rec.User, "join")
	writeJSON(w, map[string]string{"room_id": string(room)})
}

// membership answers leave (the user itself) and invite, kick, ban and
// unban (of the body's user_id, by a joined member).
func (hs *Homeserver) membership(result string, other bool) func(w http.ResponseWriter, r *http.Request, rec Request) {
	return func(w http.ResponseWriter, r *http.Request, rec Request) {
		room := matrix.RoomID(r.PathValue("room"))
		var body struct {
			UserID matrix.UserID `json:"user_id"`
		}
		_ = json.Unmarshal(rec.Body, &body)
		hs.mu.Lock()
		defer hs.mu.Unlock()
		target := rec.User
		if other {
			if hs.members[room][rec.User] != "join" {
				writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "not in room")
				return
			}
			target = body.UserID
		}
		hs.setMember(room, target, result)
		writeJSON(w, map[string]string{})
	}
}

func (hs *Homeserver) send(w http.ResponseWriter, r *http.Request, rec Request) {
	room := matrix.RoomID(r.PathValue("room"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.members[room][rec.User] != "join" {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "user not in room")
		return
	}
	id := hs.addEvent(Event{Room: room, Sender: rec.User, Type: r.PathValue("type"), Content: rec.Body})
	writeJSON(w, map[string]string{"event_id": string(id)})
}

func (hs *Homeserver) putState(w http.ResponseWriter, r *http.Request, rec Request) {
	room := matrix.RoomID(r.PathValue("room"))
	key := r.PathValue("key")
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.members[room][rec.User] != "join" {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "user not in room")
		return
	}
	id := hs.addEvent(Event{Room: room, Sender: rec.User, Type: r.PathValue("type"), StateKey: &key, Content: rec.Body})
	writeJSON(w, map[string]string{"event_id": string(id)})
}

func (hs *Homeserver) getState(w http.ResponseWriter, r *http.Request, rec Request) {
	room := matrix.RoomID(r.PathValue("room"))
	typ, key := r.PathValue("type"), r.PathValue("key")
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if m := hs.members[room][matrix.UserID(key)]; typ == matrix.EventMember && m != "" {
		writeJSON(w, map[string]string{"membership": m})
		return
	}
	for i := len(hs.events) - 1; i >= 0; i-- {
		e := hs.events[i]
		if e.Room == room && e.Type == typ && e.StateKey != nil && *e.StateKey == key {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(e.Content)
			return
		}
	}
	writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no such state")
}

func (hs *Homeserver) getEvent(w http.ResponseWriter, r *http.Request, rec Request) {
	room, id := matrix.RoomID(r.PathValue("room")), matrix.EventID(r.PathValue("event"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for i, e := range hs.events {
		if e.Room == room && e.ID == id {
			writeJSON(w, e.clientEvent(i))
			return
		}
	}
	writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no such event")
}

func (hs *Homeserver) redact(w http.ResponseWriter, r *http.Request, rec Request) {
	room := matrix.RoomID(r.PathValue("room"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.members[room][rec.User] != "join" {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "user not in room")
		return
	}
	id := hs.addEvent(Event{Room: room, Sender: rec.User, Type: matrix.EventRedaction, Content: rec.Body,
		Redacts: matrix.EventID(r.PathValue("event"))})
	writeJSON(w, map[string]string{"event_id": string(id)})
}

func (hs *Homeserver) joinedMembers(w http.ResponseWriter, r *http.Request, rec Request) {
	room := matrix.RoomID(r.PathValue("room"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	joined := map[matrix.UserID]map[string]string{}
	for u, m := range hs.members[room] {
		if m == "join" {
			joined[u] = map[string]string{}
		}
	}
	writeJSON(w, map[string]any{"joined": joined})
}

// roomMembers answers GET /members: an m.room.member event per member
// (of the membership asked, when the query has one), with the member's
// displayname when it set one, in no particular order.
func (hs *Homeserver) roomMembers(w http.ResponseWriter, r *http.Request, rec Request) {
	room := matrix.RoomID(r.PathValue("room"))
	only := r.URL.Query().Get("membership")
	hs.mu.Lock()
	defer hs.mu.Unlock()
	chunk := []map[string]any{}
	for u, m := range hs.members[room] {
		if only != "" && m != only {
			continue
		}
		content := map[string]string{"membership": m}
		if name := hs.profiles[u]["displayname"]; name != "" {
			content["displayname"] = name
		}
		chunk = append(chunk, map[string]any{"type": matrix.EventMember, "state_key": string(u), "sender": string(u),
			"room_id": string(room), "event_id": "$member-" + string(u), "content": content})
	}
	writeJSON(w, map[string]any{"chunk": chunk})
}

func (hs *Homeserver) putAlias(w http.ResponseWriter, r *http.Request, rec Request) {
	var body struct {
		RoomID matrix.RoomID `json:"room_id"`
	}
	_ = json.Unmarshal(rec.Body, &body)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	alias := matrix.RoomAlias(r.PathValue("alias"))
	if hs.aliases[alias] != "" {
		writeErr(w, http.StatusConflict, "M_UNKNOWN", "alias exists")
		return
	}
	hs.aliases[alias] = body.RoomID
	writeJSON(w, map[string]string{})
}

func (hs *Homeserver) getAlias(w http.ResponseWriter, r *http.Request, rec Request) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	room := hs.aliases[matrix.RoomAlias(r.PathValue("alias"))]
	if room == "" {
		writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no such alias")
		return
	}
	writeJSON(w, map[string]any{"room_id": room, "servers": []string{hs.ServerName}})
}

func (hs *Homeserver) putProfile(w http.ResponseWriter, r *http.Request, rec Request) {
	user, field := matrix.UserID(r.PathValue("user")), r.PathValue("field")
	var body map[string]any
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		writeErr(w, http.StatusBadRequest, "M_BAD_JSON", err.Error())
		return
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if user != rec.User {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "not your profile")
		return
	}
	if hs.profiles[user] == nil {
		hs.profiles[user] = map[string]string{}
	}
	hs.profiles[user][field], _ = body[field].(string)
	writeJSON(w, map[string]string{})
}

// getProfile answers a whole profile, or one field of it.
func (hs *Homeserver) getProfile(w http.ResponseWriter, r *http.Request, rec Request) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	p := hs.profiles[matrix.UserID(r.PathValue("user"))]
	if p == nil {
		writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no profile")
		return
	}
	if f := r.PathValue("field"); f != "" {
		writeJSON(w, map[string]string{f: p[f]})
		return
	}
	writeJSON(w, p)
}

// SetProfile sets a field of a user's profile, as the user would.
func (hs *Homeserver) SetProfile(user matrix.UserID, field, value string) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.profiles[user] == nil {
		hs.profiles[user] = map[string]string{}
	}
	hs.profiles[user][field] = value
}

func (hs *Homeserver) putPresence(w http.ResponseWriter, r *http.Request, rec Request) {
	user := matrix.UserID(r.PathValue("user"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if user != rec.User {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN", "not your presence")
		return
	}
	hs.presence[user] = json.RawMessage(rec.Body)
	writeJSON(w, map[string]string{})
}

// getPresence answers what the user last set, else offline.
func (hs *Homeserver) getPresence(w http.ResponseWriter, r *http.Request, rec Request) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	p := hs.presence[matrix.UserID(r.PathValue("user"))]
	if p == nil {
		p = json.RawMessage(`{"presence":"offline"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(p)
}

// Presence returns the presence body a user last set ("" for none).
func (hs *Homeserver) Presence(user matrix.UserID) string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return string(hs.presence[user])
}

// PublicRoom is an entry of the public room directory.
type PublicRoom struct {
	RoomID matrix.RoomID    `json:"room_id"`
	Alias  matrix.RoomAlias `json:"canonical_alias,omitempty"`
	Name   string           `json:"name,omitempty"`
}

// AddPublicRoom lists r in the public room directory (GET /publicRooms,
// answered with or without a token, paged by limit and since).
func (hs *Homeserver) AddPublicRoom(r PublicRoom) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.public = append(hs.public, r)
}

func (hs *Homeserver) publicRooms(w http.ResponseWriter, r *http.Request, rec Request) {
	from, _ := strconv.Atoi(r.URL.Query().Get("since"))
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 {
		limit = 100
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	page := struct {
		Chunk     []PublicRoom `json:"chunk"`
		NextBatch string       `json:"next_batch,omitempty"`
		Total     int          `json:"total_room_count_estimate"`
	}{Chunk: []PublicRoom{}, Total: len(hs.public)}
	for i := from; i >= 0 && i < min(from+limit, len(hs.public)); i++ {
		page.Chunk = append(page.Chunk, hs.public[i])
	}
	if from+limit < len(hs.public) {
		page.NextBatch = strconv.Itoa(from + limit)
	}
	writeJSON(w, page)
}

// RemoveAlias deletes an alias, as an admin would.
func (hs *Homeserver) RemoveAlias(alias matrix.RoomAlias) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	delete(hs.aliases, alias)
}
