package xmpp

import (
	"context"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// History on join (XEP-0045 §7.2.15): after the occupants' presences and
// the self-presence, before the subject, a joining resource gets the
// room's latest messages from Matrix as its <history/> asks, each with
// an XEP-0203 delay and its stanza-id.

const (
	// MaxHistoryStanzas bounds the messages a join gets, whatever it
	// asks for.
	MaxHistoryStanzas = 100
	// historyBudget bounds the events read from Matrix for one join's
	// history (non-message events count too).
	historyBudget = 500
)

// historyLimits is a join's <history/>: each limit is -1 when absent.
type historyLimits struct {
	MaxChars, MaxStanzas, Seconds int
	Since                         time.Time // zero when absent
}

// noLimits is a join without <history/>.
var noLimits = historyLimits{MaxChars: -1, MaxStanzas: -1, Seconds: -1}

// parseHistory reads the <history/> of a join presence's MUC <x/>.
// Malformed or negative attributes count as absent.
func parseHistory(st *component.Stanza) historyLimits {
	h := noLimits
	x := tree(st.Inner).child(nsMUC, "x")
	if x == nil {
		return h
	}
	el := x.child(nsMUC, "history")
	if el == nil {
		return h
	}
	num := func(name string) int {
		n, err := strconv.Atoi(el.attr(name))
		if err != nil || n < 0 {
			return -1
		}
		return n
	}
	h.MaxChars, h.MaxStanzas, h.Seconds = num("maxchars"), num("maxstanzas"), num("seconds")
	if t, err := parseStamp(el.attr("since")); err == nil {
		h.Since = t.UTC()
	}
	return h
}

// parseStamp reads an XEP-0082 DateTime.
func parseStamp(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}

// stanzas is how many messages to read at most: maxstanzas when given,
// else def, at most MaxHistoryStanzas; 0 when maxchars or maxstanzas is 0.
func (h historyLimits) stanzas(def int) int {
	n := def
	if h.MaxStanzas >= 0 {
		n = h.MaxStanzas
	}
	if h.MaxChars == 0 {
		n = 0
	}
	return min(max(n, 0), MaxHistoryStanzas)
}

// cutoff returns the oldest time a message may have, and whether any.
func (h historyLimits) cutoff(now time.Time) (time.Time, bool) {
	var c time.Time
	if h.Seconds >= 0 {
		c = now.Add(-time.Duration(h.Seconds) * time.Second)
	}
	if !h.Since.IsZero() && h.Since.After(c) {
		c = h.Since
	}
	return c, !c.IsZero()
}

// histItem is one message of a join's history, as its stanza.
type histItem struct {
	ID     matrix.EventID
	TS     time.Time
	Stanza []byte
}

// pick returns the messages of items (oldest first) a join gets: the
// newest ones that satisfy every limit at once (XEP-0045 §7.2.15: the
// smallest history that meets them all), oldest first. maxchars counts
// the characters of the whole stanzas.
func (h historyLimits) pick(items []histItem, now time.Time, def int) []histItem {
	n := h.stanzas(def)
	cut, hasCut := h.cutoff(now)
	chars, first := 0, len(items)
	for i := len(items) - 1; i >= 0 && len(items)-i <= n; i-- {
		if hasCut && items[i].TS.Before(cut) {
			break
		}
		chars += utf8.RuneCount(items[i].Stanza)
		if h.MaxChars >= 0 && chars > h.MaxChars {
			break
		}
		first = i
	}
	return items[first:]
}

// horizon is what a join read of a room's timeline: the messages it
// read (sent as history or not) and the time of the newest event then.
// A message among them, or older than that time, is of the joiner's
// past: when it arrives live, it is only because the homeserver pushed
// it late (Dendrite does for events sent before the bridge was in the
// room), and it is not sent as live.
type horizon struct {
	ids map[matrix.EventID]bool
	ts  time.Time
}

// has reports whether event ev sent at ts (zero: unknown) is of the
// past; a nil horizon has none.
func (h *horizon) has(ev matrix.EventID, ts time.Time) bool {
	if h == nil {
		return false
	}
	return h.ids[ev] || (!ts.IsZero() && !h.ts.IsZero() && ts.Before(h.ts))
}

// history reads the history a joining resource to of occupant o gets,
// as o's puppet, without g.mu held: the room's latest messages, oldest
// first, as stanzas from their senders' nicks (shown as live ones,
// archiveview.go; a redacted one as its tombstone), and the horizon of what
// it read (at least the newest event, even when no history is asked
// for). Errors are logged: a join without its history still completes.
func (g *gateway) history(ctx context.Context, r *mucRoom, o *occupant, to string, h historyLimits) ([]histItem, *horizon) {
	n := h.stanzas(g.m.cfg.HistoryOnJoin)
	now := time.Now()
	cut, hasCut := h.cutoff(now)
	w := newWalker(g.m.host.Matrix().Intent(o.Puppet), r.id, intent.Backward, n+n/2+5, historyBudget)
	w.win = newWindow()
	hz := &horizon{ids: map[matrix.EventID]bool{}}
	var msgs []archived
	for len(msgs) < n || hz.ts.IsZero() {
		ev, err := w.next(ctx)
		if err != nil {
			g.log.Warn("xmpp: could not read the room's history", "room", r.id, "err", err)
			break
		}
		if ev == nil {
			break
		}
		if hz.ts.IsZero() && ev.OriginServerTS > 0 {
			hz.ts = time.UnixMilli(ev.OriginServerTS)
		}
		a, ok := archivedOf(ev)
		if !ok {
			continue
		}
		hz.ids[a.ID] = true
		if hasCut && a.TS.Before(cut) {
			break
		}
		if len(msgs) < n {
			msgs = append(msgs, a)
		}
	}
	if len(hz.ids) == 0 {
		hz.ids = nil // an empty room's joiners keep no map
	}
	// Read backward from the newest event, the walk has read every edit
	// of the messages it kept: they are shown as they are now.
	s := g.senders(r, o.Puppet)
	items := make([]histItem, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		a := msgs[i]
		from := s.of(ctx, a)
		m, ok := g.archiveShown(ctx, a, from, s, w.win)
		if !ok {
			continue
		}
		m.Markable, m.Delayed = m.Tombstone == nil, a.TS
		b := relStanza(nickJID(o.RoomJID, from.Nick), to, o.RoomJID, m)
		items = append(items, histItem{ID: a.ID, TS: a.TS, Stanza: b})
	}
	return h.pick(items, now, g.m.cfg.HistoryOnJoin), hz
}
