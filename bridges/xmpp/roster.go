package xmpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
)

// Subscriptions between XMPP users and Matrix users' JIDs (RFC 6121 §3),
// kept in the module's KV under rosterKeyPrefix + Matrix user + "/" +
// bare JID, so that presence changes of a Matrix user reach the XMPP
// users subscribed to it, after a restart too.

const rosterKeyPrefix = "roster/"

// subscription is one XMPP user's subscription state with one Matrix
// user's JID.
type subscription struct {
	// To: the XMPP user receives the Matrix user's presence (it
	// subscribed, the component answered subscribed).
	To bool `json:"to,omitempty"`
	// From: the XMPP user approved the component's subscription to its
	// presence.
	From bool `json:"from,omitempty"`
	// Asked: the component asked for that subscription and has no answer.
	Asked bool `json:"asked,omitempty"`
}

func rosterKey(u matrix.UserID, real string) string {
	return rosterKeyPrefix + string(u) + "/" + real
}

// subscriptionEvent is what an XMPP user's subscription presence does to
// the state, and what the component answers.
type subscriptionAnswer struct {
	// Types are the presence types to send back from the Matrix user's
	// JID, in order: "subscribed", "subscribe" (with the nick),
	// "unavailable"; "presence" stands for the Matrix user's current
	// presence.
	Types []string
}

// apply changes s for an incoming subscription presence of type typ and
// returns the answer due.
func (s *subscription) apply(typ string) subscriptionAnswer {
	var a subscriptionAnswer
	switch typ {
	case "subscribe":
		s.To = true
		a.Types = append(a.Types, "subscribed", "presence")
		if !s.From && !s.Asked {
			s.Asked = true
			a.Types = append(a.Types, "subscribe")
		}
	case "subscribed":
		s.From, s.Asked = true, false
	case "unsubscribe":
		if s.To {
			a.Types = append(a.Types, "unavailable")
		}
		s.To = false
	case "unsubscribed":
		s.From, s.Asked = false, false
	}
	return a
}

// loadSubscription reads a stored subscription (zero when none).
func (g *gateway) loadSubscription(ctx context.Context, u matrix.UserID, real string) (subscription, error) {
	var s subscription
	b, err := g.m.host.KV().Get(ctx, rosterKey(u, real))
	if errors.Is(err, bridges.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read subscription: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return subscription{}, nil // unreadable: start over
	}
	return s, nil
}

// storeSubscription writes s, or deletes it when it holds nothing.
func (g *gateway) storeSubscription(ctx context.Context, u matrix.UserID, real string, s subscription) error {
	kv, key := g.m.host.KV(), rosterKey(u, real)
	if s == (subscription{}) {
		if err := kv.Delete(ctx, key); err != nil && !errors.Is(err, bridges.ErrNotFound) {
			return fmt.Errorf("delete subscription: %w", err)
		}
		return nil
	}
	b, err := json.Marshal(s)
	if err == nil {
		err = kv.Put(ctx, key, b)
	}
	if err != nil {
		return fmt.Errorf("store subscription: %w", err)
	}
	return nil
}

// loadWatched counts the stored subscriptions to each Matrix user's
// presence, so that presence of Matrix users nobody follows is dropped
// without reading the KV.
func (g *gateway) loadWatched(ctx context.Context) error {
	entries, err := g.m.host.KV().WithPrefix(ctx, rosterKeyPrefix)
	if err != nil {
		return fmt.Errorf("xmpp: load subscriptions: %w", err)
	}
	g.mxMu.Lock()
	defer g.mxMu.Unlock()
	for _, e := range entries {
		rest := strings.TrimPrefix(e.Key, rosterKeyPrefix)
		i := strings.LastIndexByte(rest, '/') // bare JIDs have no '/'
		var s subscription
		if i > 0 && json.Unmarshal(e.Value, &s) == nil && s.To {
			g.watched[matrix.UserID(rest[:i])]++
		}
	}
	return nil
}

// watch counts a subscription to u's presence that started (delta 1) or
// ended (-1).
func (g *gateway) watch(u matrix.UserID, delta int) {
	g.mxMu.Lock()
	defer g.mxMu.Unlock()
	if g.watched[u] += delta; g.watched[u] <= 0 {
		delete(g.watched, u)
	}
}

// subscribers returns the bare JIDs subscribed to u's presence.
func (g *gateway) subscribers(ctx context.Context, u matrix.UserID) ([]string, error) {
	prefix := rosterKeyPrefix + string(u) + "/"
	entries, err := g.m.host.KV().WithPrefix(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("read subscribers: %w", err)
	}
	var out []string
	for _, e := range entries {
		var s subscription
		real := strings.TrimPrefix(e.Key, prefix)
		if json.Unmarshal(e.Value, &s) == nil && s.To && !strings.Contains(real, "/") {
			out = append(out, real)
		}
	}
	return out, nil
}
