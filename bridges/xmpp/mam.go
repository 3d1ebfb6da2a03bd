package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"slices"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// MAM (XEP-0313, urn:xmpp:mam:2 with #extended) on a room's bare JID,
// answered from the Matrix room's timeline (archive.go): the archive's
// ids are event IDs. Only occupants may query it (a deployment limit
// XEP-0313 §5.1.2 allows): the archive is read as the occupant's puppet,
// so Matrix's history visibility applies; anyone else gets forbidden.
// Queries run in the room's lane; results and then the fin go out
// through the outbound queue, in order, kept in memory only (a client
// asks again when its answer does not come).

// mamBudget bounds the events one query reads from the homeserver.
const mamBudget = 2000

// errTooFar is a query whose answer lies beyond mamBudget events.
var errTooFar = errors.New("the archive query reads too far; page with after-id or before-id")

// routeMAM takes MAM queries, form requests and metadata requests to a
// room's bare JID.
func (g *gateway) routeMAM(st *component.Stanza, from, to jid.JID) bool {
	p := st.Payloads()
	if len(p) != 1 || p[0].Name.Space != nsMAM || !isRoomJID(to) || to.Resourcepart() != "" {
		return false
	}
	typ := st.Attr("type")
	switch {
	case p[0].Name.Local == "query" && typ == "get":
		g.enqueue(context.Background(), iqResultStanza(st, to, []byte(mamForm)))
		return true
	case p[0].Name.Local == "query" && typ == "set":
		q, qerr := parseMAMQuery(st)
		if qerr != nil {
			g.enqueue(context.Background(), iqErrorStanza(st, to, qerr.Type, qerr.Cond, qerr.Text))
			return true
		}
		g.pushIQ(st, to, func(ctx context.Context) { g.mamQuery(ctx, st, from, to, q) })
		return true
	case p[0].Name.Local == "metadata" && typ == "get":
		g.pushIQ(st, to, func(ctx context.Context) { g.mamMetadata(ctx, st, from, to) })
		return true
	}
	g.enqueue(context.Background(), iqErrorStanza(st, to, "cancel", "feature-not-implemented", ""))
	return true
}

// pushIQ runs f in the lane of the room JID to, answering st with
// resource-constraint when the lane is full.
func (g *gateway) pushIQ(st *component.Stanza, to jid.JID, f func(ctx context.Context)) {
	g.push(to.String(), func() {
		g.enqueue(context.Background(), iqErrorStanza(st, to, "wait", "resource-constraint", "the room is busy; try again"))
	}, f)
}

// mamForm is the query form (XEP-0313 §4.1.5): the fields supported.
const mamForm = `<query xmlns="urn:xmpp:mam:2"><x xmlns="jabber:x:data" type="form">` +
	`<field type="hidden" var="FORM_TYPE"><value>urn:xmpp:mam:2</value></field>` +
	`<field type="jid-single" var="with"></field>` +
	`<field type="text-single" var="start"></field>` +
	`<field type="text-single" var="end"></field>` +
	`<field type="text-single" var="before-id"></field>` +
	`<field type="text-single" var="after-id"></field>` +
	`<field type="list-multi" var="ids"><validate xmlns="http://jabber.org/protocol/xdata-validate" datatype="xs:string"><open></open></validate></field>` +
	`</x></query>`

// archiveReader returns the room of the room JID to and the puppet that
// reads its archive for from, or the error answer. The room of an
// occupant who joined through to is known without asking the homeserver
// (an alias JID would cost a request per query).
func (g *gateway) archiveReader(ctx context.Context, from, to jid.JID) (*mucRoom, matrix.UserID, *queryError) {
	if r, p := g.occupantRoom(to.Bare().String(), from.Bare().String()); r != nil {
		return r, p, nil
	}
	room, err := g.resolve(ctx, to)
	if errors.Is(err, component.ErrNoRoom) {
		return nil, "", &queryError{"cancel", "item-not-found", "no such Matrix room"}
	}
	if err != nil {
		g.log.Warn("xmpp: could not resolve a room", "room_jid", to.String(), "err", err)
		return nil, "", &queryError{"wait", "remote-server-timeout", "the Matrix homeserver did not answer"}
	}
	g.mu.Lock()
	r := g.rooms[room]
	g.mu.Unlock()
	if r == nil {
		return nil, "", &queryError{"auth", "forbidden", "only occupants may read the room's archive: join it first"}
	}
	p := g.reader(r, from.Bare().String())
	if p == "" {
		return nil, "", &queryError{"auth", "forbidden", "only occupants may read the room's archive: join it first"}
	}
	return r, p, nil
}

// occupantRoom returns the room that the XMPP user real has joined as
// the room JID roomJID, and the puppet that reads its archive; nil when
// none.
func (g *gateway) occupantRoom(roomJID, real string) (*mucRoom, matrix.UserID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.rooms {
		if o := r.occupants[real]; o != nil && !o.joining && o.RoomJID == roomJID {
			return r, o.Puppet
		}
	}
	return nil, ""
}

// mamFail answers a query that failed with err: an id that is no event
// of the room (or one the reader may not see) is item-not-found
// (XEP-0313 §4.1.3), a query reaching too far resource-constraint, a
// homeserver failure remote-server-timeout.
func (g *gateway) mamFail(ctx context.Context, st *component.Stanza, to jid.JID, err error) {
	var he *intent.HTTPError
	switch {
	case errors.Is(err, errTooFar):
		g.enqueue(ctx, iqErrorStanza(st, to, "wait", "resource-constraint", err.Error()))
	case errors.Is(err, intent.ErrNotFound),
		errors.As(err, &he) && he.Status >= 400 && he.Status < 500 && !intent.IsTransient(err):
		g.enqueue(ctx, iqErrorStanza(st, to, "cancel", "item-not-found", "no such message in the room's archive"))
	default:
		g.log.Warn("xmpp: could not read a room's archive", "room_jid", to.String(), "err", err)
		g.enqueue(ctx, iqErrorStanza(st, to, "wait", "remote-server-timeout", "the Matrix homeserver did not answer"))
	}
}

// archiveQuery answers q from from to the room JID to.
func (g *gateway) mamQuery(ctx context.Context, st *component.Stanza, from, to jid.JID, q archiveQuery) {
	r, p, qerr := g.archiveReader(ctx, from, to)
	if qerr != nil {
		g.enqueue(ctx, iqErrorStanza(st, to, qerr.Type, qerr.Cond, qerr.Text))
		return
	}
	match, qerr := g.withFilter(r, to, q.With)
	if qerr != nil {
		g.enqueue(ctx, iqErrorStanza(st, to, qerr.Type, qerr.Cond, qerr.Text))
		return
	}
	g.ensureMembersLoaded(ctx, r, p) // membernicks.go
	s := g.senders(r, p)
	sel := &selection{q: q, in: g.m.host.Matrix().Intent(p), room: r.id, match: func(archived) bool { return true }, win: newWindow()}
	if match != nil {
		sel.match = func(a archived) bool { return match(a, s.of(ctx, a)) }
	}
	page, complete, err := sel.run(ctx)
	if err != nil {
		g.mamFail(ctx, st, to, err)
		return
	}
	sent := page
	if q.Flip {
		sent = slices.Clone(page)
		slices.Reverse(sent)
	}
	// The page and its fin are queued together and not stored: a client
	// whose answer does not come asks again, so a store write before the
	// first result would only delay it (bench/xmpp's MAM measure).
	room := to.String()
	out := make([]xml.TokenReader, 0, len(sent)+1)
	for _, a := range sent {
		if b, ok := g.mamResult(ctx, room, st.Attr("from"), q.QueryID, a, s, sel.win); ok {
			out = append(out, decoder(b))
		}
	}
	out = append(out, decoder(iqResultStanza(st, to, mustMarshal(finOf(page, complete)))))
	if err := g.m.conn.EnqueueVolatile(out...); err != nil {
		g.log.Warn("xmpp: could not queue an archive page", "err", err)
	}
}

// withFilter returns the test of the with field (nil: everything
// matches, as for the room's own JID): room/nick is a nick, another bare JID the
// messages of that XMPP user or, on the component's domain, of that
// Matrix user. Other full JIDs are feature-not-implemented.
func (g *gateway) withFilter(r *mucRoom, to jid.JID, with string) (func(archived, sender) bool, *queryError) {
	if with == "" {
		return nil, nil
	}
	w, err := jid.Parse(with)
	if err != nil {
		return nil, &queryError{"modify", "jid-malformed", "with is not a JID"}
	}
	switch {
	case w.Bare().Equal(to.Bare()) && w.Resourcepart() == "":
		return nil, nil
	case w.Bare().Equal(to.Bare()):
		nick := w.Resourcepart()
		return func(_ archived, s sender) bool { return s.Nick == nick }, nil
	case w.Resourcepart() != "":
		return nil, &queryError{"cancel", "feature-not-implemented", "with is the room's JID, an occupant's room/nick, or a bare JID"}
	case w.Domain().Equal(g.m.domain):
		kind, id, err := address.Parse(w.Localpart())
		if err != nil || kind != address.User {
			return nil, &queryError{"cancel", "feature-not-implemented", "with on this service is a Matrix user's JID"}
		}
		u := matrix.UserID(id)
		return func(a archived, _ sender) bool { return a.Sender == u }, nil
	}
	p, err := g.puppetOf(w.String())
	if err != nil {
		return nil, &queryError{"modify", "jid-malformed", "with is not a JID the bridge can name"}
	}
	return func(a archived, _ sender) bool { return a.Sender == p }, nil
}

// selection computes a MAM page over a room's timeline.
type selection struct {
	q     archiveQuery
	in    *intent.Intent
	room  matrix.RoomID
	match func(archived) bool
	// win gets every event the query's walks read (for edits and reply
	// quotes).
	win *window
}

// anchor is an event that bounds a query, with its time.
type anchor struct {
	id matrix.EventID
	ts time.Time
}

// anchors returns the latest of the lower bounds (after-id, RSM after)
// and the earliest of the upper ones (before-id, RSM before); an id
// that is no event of the room fails with intent.ErrNotFound.
func (s *selection) anchors(ctx context.Context) (lower, upper *anchor, err error) {
	get := func(id string) (*anchor, error) {
		var ev matrix.Event
		if err := s.in.EventContent(ctx, s.room, matrix.EventID(id), &ev); err != nil {
			return nil, err
		}
		if ev.ID != "" && ev.ID != matrix.EventID(id) {
			return nil, intent.ErrNotFound
		}
		return &anchor{id: matrix.EventID(id), ts: time.UnixMilli(ev.OriginServerTS)}, nil
	}
	pick := func(ids []string, later bool) (*anchor, error) {
		var best *anchor
		for _, id := range ids {
			if id == "" {
				continue
			}
			a, err := get(id)
			if err != nil {
				return nil, err
			}
			if best == nil || (later && a.ts.After(best.ts)) || (!later && a.ts.Before(best.ts)) {
				best = a
			}
		}
		return best, nil
	}
	before := ""
	if s.q.Before != nil {
		before = *s.q.Before
	}
	if lower, err = pick([]string{s.q.AfterID, s.q.After}, true); err != nil {
		return nil, nil, err
	}
	if upper, err = pick([]string{s.q.BeforeID, before}, false); err != nil {
		return nil, nil, err
	}
	return lower, upper, nil
}

// run returns the page (oldest first) and whether it reaches the end of
// the result set in its direction.
func (s *selection) run(ctx context.Context) ([]archived, bool, error) {
	if len(s.q.IDs) > 0 {
		return s.byIDs(ctx)
	}
	lower, upper, err := s.anchors(ctx)
	if err != nil {
		return nil, false, err
	}
	if s.q.Max == 0 || (lower != nil && upper != nil && lower.ts.After(upper.ts)) ||
		(!s.q.Start.IsZero() && !s.q.End.IsZero() && s.q.Start.After(s.q.End)) {
		return nil, s.q.Max > 0, nil
	}
	switch {
	case s.q.Before != nil:
		return s.backward(ctx, lower, upper)
	case lower == nil && !s.q.Start.IsZero():
		return s.oldestSince(ctx, upper)
	}
	return s.forward(ctx, lower, upper)
}

// inTime reports whether a is within start and end.
func (s *selection) inTime(a archived) bool {
	return (s.q.Start.IsZero() || !a.TS.Before(s.q.Start)) && (s.q.End.IsZero() || !a.TS.After(s.q.End))
}

// walk returns a walker in direction dir, from the anchor a when set.
func (s *selection) walk(ctx context.Context, dir string, a *anchor) (*walker, error) {
	w := newWalker(s.in, s.room, dir, s.q.Max+10, mamBudget)
	w.win = s.win
	if a != nil {
		if _, err := w.from(ctx, a.id); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// backward is RSM before: the last Max messages before upper (or the
// newest), down to lower or start.
func (s *selection) backward(ctx context.Context, lower, upper *anchor) ([]archived, bool, error) {
	w, err := s.walk(ctx, intent.Backward, upper)
	if err != nil {
		return nil, false, err
	}
	var out []archived
	complete, err := s.collect(ctx, w, lower, func(a archived) (stop bool) {
		if !s.q.Start.IsZero() && a.TS.Before(s.q.Start) {
			return true
		}
		if s.inTime(a) && s.match(a) {
			out = append(out, a)
		}
		return false
	}, &out)
	if err == nil && len(out) == 0 && w.exhausted {
		err = errTooFar
	}
	slices.Reverse(out)
	return out, complete, err
}

// forward is the first Max messages after lower (or from the room's
// start), up to upper or end.
func (s *selection) forward(ctx context.Context, lower, upper *anchor) ([]archived, bool, error) {
	w, err := s.walk(ctx, intent.Forward, lower)
	if err != nil {
		return nil, false, err
	}
	var out []archived
	complete, err := s.collect(ctx, w, upper, func(a archived) (stop bool) {
		if !s.q.End.IsZero() && a.TS.After(s.q.End) {
			return true
		}
		if s.inTime(a) && s.match(a) {
			out = append(out, a)
		}
		return false
	}, &out)
	if err == nil && len(out) == 0 && w.exhausted {
		err = errTooFar
	}
	return out, complete, err
}

// oldestSince is the first Max messages from start on, up to upper (or
// the newest), read backward from there: a start is usually recent.
func (s *selection) oldestSince(ctx context.Context, upper *anchor) ([]archived, bool, error) {
	w, err := s.walk(ctx, intent.Backward, upper)
	if err != nil {
		return nil, false, err
	}
	var kept []archived // newest first; only the oldest Max+1 are kept
	total := 0
	for {
		a, ok, err := w.nextItem(ctx)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			if w.exhausted {
				return nil, false, errTooFar
			}
			break
		}
		if a.TS.Before(s.q.Start) {
			break
		}
		if !s.inTime(a) || !s.match(a) {
			continue
		}
		total++
		kept = append(kept, a)
		if len(kept) > s.q.Max+1 {
			kept = kept[1:]
		}
	}
	slices.Reverse(kept)
	if total <= s.q.Max {
		return kept, true, nil
	}
	return kept[:s.q.Max], false, nil
}

// collect reads w's events until stop (the bound's event) or take says
// to stop, or *out holds Max+1; it trims *out to Max and reports
// whether the end of the result set was reached.
func (s *selection) collect(ctx context.Context, w *walker, stop *anchor, take func(archived) bool, out *[]archived) (bool, error) {
	for len(*out) <= s.q.Max {
		ev, err := w.next(ctx)
		if err != nil {
			return false, err
		}
		if ev == nil {
			return !w.exhausted, nil
		}
		if stop != nil && ev.ID == stop.id {
			return true, nil
		}
		a, ok := itemOf(ev)
		if !ok {
			continue
		}
		if take(a) {
			return true, nil
		}
	}
	*out = (*out)[:s.q.Max]
	return false, nil
}

// byIDs is the ids field: those messages, in the archive's order (by
// time), the first Max of them.
func (s *selection) byIDs(ctx context.Context) ([]archived, bool, error) {
	var out []archived
	for _, id := range s.q.IDs {
		var ev matrix.Event
		if err := s.in.EventContent(ctx, s.room, matrix.EventID(id), &ev); err != nil {
			return nil, false, err
		}
		a, ok := itemOf(&ev)
		if !ok || a.ID != matrix.EventID(id) {
			return nil, false, intent.ErrNotFound
		}
		if s.inTime(a) && s.match(a) && !slices.ContainsFunc(out, func(b archived) bool { return b.ID == a.ID }) {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b archived) int { return a.TS.Compare(b.TS) })
	if len(out) > s.q.Max {
		return out[:s.q.Max], false, nil
	}
	return out, true, nil
}

// mamResultStanza is one result of a query, to the requester.
type mamResultStanza struct {
	XMLName xml.Name      `xml:"message"`
	From    string        `xml:"from,attr"`
	To      string        `xml:"to,attr"`
	Result  archiveResult `xml:"urn:xmpp:mam:2 result"`
}

type archiveResult struct {
	QueryID   string       `xml:"queryid,attr,omitempty"`
	ID        string       `xml:"id,attr"`
	Forwarded mamForwarded `xml:"urn:xmpp:forward:0 forwarded"`
}

type mamForwarded struct {
	Delay   delayEl    `xml:"delay"`
	Message relMessage // in jabber:client
}

type archivedX struct {
	Item struct {
		JID string `xml:"jid,attr,omitempty"`
	} `xml:"item"`
}

// mamResult is the result stanza of a for to: the message as history on
// join shows it (archiveview.go), from the sender's occupant JID, without
// a to (XEP-0313 §5.1.2), with the sender's real JID (the room is
// non-anonymous). ok is false when a is not shown.
func (g *gateway) mamResult(ctx context.Context, room, to, queryID string, a archived, s *senders, win *window) ([]byte, bool) {
	from := s.of(ctx, a)
	m, ok := g.archiveShown(ctx, a, from, s, win)
	if !ok {
		return nil, false
	}
	m.Real = from.Real
	msg := relMessageOf(nickJID(room, from.Nick), "", room, m)
	msg.XMLName.Space = "jabber:client"
	return mustMarshal(mamResultStanza{From: room, To: to, Result: archiveResult{QueryID: queryID, ID: string(a.ID),
		Forwarded: mamForwarded{Delay: delayEl{From: room, Stamp: stamp(a.TS)}, Message: msg}}}), true
}

type mamFin struct {
	XMLName  xml.Name `xml:"urn:xmpp:mam:2 fin"`
	Complete string   `xml:"complete,attr,omitempty"`
	Set      rsmSet   `xml:"http://jabber.org/protocol/rsm set"`
}

type rsmSet struct {
	First string `xml:"first,omitempty"`
	Last  string `xml:"last,omitempty"`
}

// finOf is the fin of page (oldest first): first and last are its
// oldest and newest ids whatever order it was sent in.
func finOf(page []archived, complete bool) mamFin {
	f := mamFin{}
	if complete {
		f.Complete = "true"
	}
	if len(page) > 0 {
		f.Set.First, f.Set.Last = string(page[0].ID), string(page[len(page)-1].ID)
	}
	return f
}

// mamMetadata answers the archive's first and last messages (XEP-0313
// §6, part of #extended).
func (g *gateway) mamMetadata(ctx context.Context, st *component.Stanza, from, to jid.JID) {
	r, p, qerr := g.archiveReader(ctx, from, to)
	if qerr != nil {
		g.enqueue(ctx, iqErrorStanza(st, to, qerr.Type, qerr.Cond, qerr.Text))
		return
	}
	in := g.m.host.Matrix().Intent(p)
	var b strings.Builder
	b.WriteString(`<metadata xmlns="urn:xmpp:mam:2">`)
	for _, end := range []struct{ name, dir string }{{"start", intent.Forward}, {"end", intent.Backward}} {
		w := newWalker(in, r.id, end.dir, walkPage, mamBudget)
		a, ok, err := w.nextItem(ctx)
		if err != nil {
			g.mamFail(ctx, st, to, err)
			return
		}
		if !ok {
			continue
		}
		b.Write(mustMarshal(struct {
			XMLName xml.Name
			ID      string `xml:"id,attr"`
			TS      string `xml:"timestamp,attr"`
		}{XMLName: xml.Name{Local: end.name}, ID: string(a.ID), TS: stamp(a.TS)}))
	}
	b.WriteString(`</metadata>`)
	g.enqueue(ctx, iqResultStanza(st, to, []byte(b.String())))
}
