package xmpp

import (
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"mellium.im/xmpp/jid"
)

// A route takes a stanza the component offers the gateway (see
// component.IQGateway and component.ChatGateway) when it serves it, and
// returns whether it did. Routes run on the receive goroutine: they
// decide at once from the stanza and do any slow work in a room lane
// (g.push); answers go through the durable queue (g.enqueue).
type route func(st *component.Stanza, from, to jid.JID) bool

// iqRoutes are the gateway's IQ services, tried in order. Each feature
// adds its route here.
func (g *gateway) iqRoutes() []route {
	rs := []route{}
	if g.m.rev != nil {
		rs = append(rs, g.m.rev.pingRoute)
	}
	return append(rs, g.routePing, g.routeVCard, g.routePEPAvatar, g.routeMAM, g.moderateRoute, g.adminRoute)
}

// chatRoutes are the gateway's services for chat, normal and headline
// messages, tried in order. Each feature adds its route here.
func (g *gateway) chatRoutes() []route {
	rs := []route{}
	if g.m.rev != nil {
		rs = append(rs, g.m.rev.mamRoute, g.m.rev.privateRoute)
	}
	return append(rs, g.pepEventRoute, g.pmRoute, g.chatRoute)
}

// IQ implements component.IQGateway.
func (g *gateway) IQ(st *component.Stanza, from, to jid.JID) bool {
	for _, r := range g.iqRoutes() {
		if r(st, from, to) {
			return true
		}
	}
	return false
}

// Chat implements component.ChatGateway.
func (g *gateway) Chat(st *component.Stanza, from, to jid.JID) bool {
	for _, r := range g.chatRoutes() {
		if r(st, from, to) {
			return true
		}
	}
	return false
}

var (
	_ component.IQGateway   = (*gateway)(nil)
	_ component.ChatGateway = (*gateway)(nil)
)
