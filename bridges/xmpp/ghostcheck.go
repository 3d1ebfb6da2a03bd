package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
)

// Ghost checks (issue 10 §2, no ghosts): a client that went away while
// the component was not connected (the bridge was down, or the XMPP
// server bounced its unavailable presence to a disconnected component)
// stays an occupant until something tells the room it is gone. So at the
// start of every component session each joined resource of each hosted
// occupant (restored from the store after a restart) is checked once:
//
//  1. an XEP-0199 ping from its occupant JID to the resource. A result
//     says the client is there: nothing more is sent.
//  2. An error answer is either the server's (no such resource:
//     service-unavailable) or a client's that does not implement pings
//     (service-unavailable too, RFC 6120 §8.4): the two cannot be told
//     apart, so it is followed by a bodiless groupchat message from the
//     room, queued durably. A server delivers it to a connected
//     resource (clients show nothing for a message without body,
//     subject or payload) and bounces it for an absent one (RFC 6121
//     §8.5.3.2.1); the bounce takes the path of every bounce (Message,
//     leave): the others get the resource's unavailable presence and,
//     with its last resource, the puppet leaves the Matrix room.
//  3. No answer within ghostCheckTimeout (a slow or unreachable remote
//     server) removes nothing: the occupant stays until a bounce says
//     otherwise.
//
// Checks start at ghostCheckRate per second, at most ghostCheckInFlight
// waiting for answers, so a restart with thousands of occupants does not
// burst. A new session stops the previous session's sweep and starts
// over.

const (
	ghostCheckRate     = 20 // checks started per second
	ghostCheckInFlight = 64 // pings awaiting an answer at once
	ghostCheckTimeout  = 30 * time.Second
)

// ghostChecks is the sweep in progress.
type ghostChecks struct {
	mu     sync.Mutex
	cancel context.CancelFunc
}

// ghostTarget is one joined resource of an occupant.
type ghostTarget struct {
	roomJID, nick, res string
}

// checkGhosts starts a sweep over the occupants' resources (at the start
// of a component session, Options.OnSession); it returns at once.
func (g *gateway) checkGhosts(ctx context.Context) {
	targets := g.ghostTargets()
	g.ghosts.mu.Lock()
	if g.ghosts.cancel != nil {
		g.ghosts.cancel()
		g.ghosts.cancel = nil
	}
	if len(targets) == 0 {
		g.ghosts.mu.Unlock()
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	g.ghosts.cancel = cancel
	g.ghosts.mu.Unlock()
	g.log.Info("xmpp: checking that the occupants' clients are still there", "resources", len(targets))
	g.m.host.Go(func(context.Context) {
		defer cancel()
		g.ghostSweep(sctx, targets, time.Second/ghostCheckRate)
	})
}

// ghostTargets lists every joined resource of every occupant, in a
// stable order.
func (g *gateway) ghostTargets() []ghostTarget {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []ghostTarget
	for _, r := range g.rooms {
		for _, o := range r.occupants {
			if o.joining {
				continue
			}
			for _, res := range o.Resources.all() {
				out = append(out, ghostTarget{roomJID: o.RoomJID, nick: o.Nick, res: res})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].roomJID != out[j].roomJID {
			return out[i].roomJID < out[j].roomJID
		}
		return out[i].res < out[j].res
	})
	return out
}

// ghostSweep checks targets, one every interval, until done or ctx ends
// or the session is gone.
func (g *gateway) ghostSweep(ctx context.Context, targets []ghostTarget, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	slots := make(chan struct{}, ghostCheckInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	stop, stopOnce := make(chan struct{}), sync.Once{}
	for _, t := range targets {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		case <-stop:
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := g.ghostCheck(ctx, t); errors.Is(err, component.ErrNotConnected) {
				stopOnce.Do(func() { close(stop) }) // the next session sweeps again
			}
		}()
	}
}

// ghostCheck pings t's resource and, when it answers with an error,
// queues the bodiless groupchat message whose bounce removes it. It
// returns SendIQ's error (no answer: the occupant stays).
func (g *gateway) ghostCheck(ctx context.Context, t ghostTarget) error {
	if !g.stillJoined(t) {
		return nil // it left or bounced meanwhile
	}
	ctx, cancel := context.WithTimeout(ctx, ghostCheckTimeout)
	defer cancel()
	from := nickJID(t.roomJID, t.nick)
	res, err := g.m.conn.SendIQ(ctx, decoder(ghostPing(from, t.res)))
	if err != nil {
		if !errors.Is(err, component.ErrNotConnected) && ctx.Err() == nil {
			g.log.Debug("xmpp: an occupant's ping failed; it stays", "room_jid", t.roomJID, "err", err)
		}
		return err
	}
	if res.Attr("type") != "error" || !g.stillJoined(t) {
		return nil
	}
	g.enqueue(ctx, ghostProbe(t.roomJID, t.res))
	return nil
}

// stillJoined reports whether t's resource is still a joined resource
// of its occupant.
func (g *gateway) stillJoined(t ghostTarget) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.rooms {
		for _, o := range r.occupants {
			if o.RoomJID == t.roomJID && o.Resources.has(t.res) && !o.joining {
				return true
			}
		}
	}
	return false
}

// ghostPing is the XEP-0199 ping from the occupant JID from to the
// resource to.
func ghostPing(from, to string) []byte {
	return mustMarshal(iqStanza{From: from, To: to, Type: "get", ID: "ghost-" + randomID(),
		Inner: []byte(`<ping xmlns='urn:xmpp:ping'/>`)})
}

// ghostProbeMsg is a groupchat message with nothing to show: only the
// XEP-0334 hint that servers must not archive it.
type ghostProbeMsg struct {
	XMLName xml.Name `xml:"message"`
	From    string   `xml:"from,attr"`
	To      string   `xml:"to,attr"`
	ID      string   `xml:"id,attr"`
	Type    string   `xml:"type,attr"`
	NoStore struct {
		XMLName xml.Name `xml:"urn:xmpp:hints no-store"`
	}
}

// ghostProbe is the bodiless groupchat message from the room JID to the
// resource to; a server bounces it when to is not connected.
func ghostProbe(roomJID, to string) []byte {
	return mustMarshal(ghostProbeMsg{From: roomJID, To: to, ID: "ghost-" + randomID(), Type: "groupchat"})
}
