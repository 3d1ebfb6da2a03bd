package irc

import (
	"context"
	"strings"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/matrix"
)

// Third-party lookups (/_matrix/app/v1/thirdparty/*): the protocol "irc"
// has one instance per configured network. A location is a network and a
// channel, found at the channel's portal alias (joining it creates the
// portal); a user is a network and a nickname, standing for the nick's
// puppet.

// ThirdPartyProtocol implements bridges.ThirdPartyProvider.
func (m *Module) ThirdPartyProtocol(ctx context.Context, protocol string) (*appservice.Protocol, error) {
	if protocol != ID {
		return nil, appservice.ErrUnknownProtocol
	}
	p := &appservice.Protocol{
		UserFields:     []string{"network", "nickname"},
		LocationFields: []string{"network", "channel"},
		FieldTypes: map[string]appservice.FieldType{
			"network":  {Regexp: "[a-z0-9][a-z0-9-]*", Placeholder: "libera"},
			"channel":  {Regexp: "[#&][^\\s,]+", Placeholder: "#channel"},
			"nickname": {Regexp: "[^#&\\s,:][^\\s,:]*", Placeholder: "nick"},
		},
		Instances: []appservice.ProtocolInstance{},
	}
	for _, id := range m.order {
		n := m.networks[id]
		p.Instances = append(p.Instances, appservice.ProtocolInstance{
			Desc: n.cfg.Name, NetworkID: id, Fields: map[string]string{"network": id},
		})
	}
	return p, nil
}

// lookupNetworks returns the networks named by fields["network"], or all
// of them when it is empty.
func (m *Module) lookupNetworks(fields map[string]string) []*network {
	if id := strings.ToLower(fields["network"]); id != "" {
		if n := m.networks[id]; n != nil {
			return []*network{n}
		}
		return nil
	}
	out := make([]*network, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, m.networks[id])
	}
	return out
}

// ThirdPartyLocations implements bridges.ThirdPartyProvider.
func (m *Module) ThirdPartyLocations(ctx context.Context, protocol string, fields map[string]string) ([]appservice.Location, error) {
	if protocol != ID {
		return nil, appservice.ErrUnknownProtocol
	}
	channel := fields["channel"]
	if channel == "" || strings.ContainsAny(channel, " ,\x07\r\n\x00") || !strings.ContainsAny(channel[:1], "#&") {
		return nil, nil
	}
	var out []appservice.Location
	for _, n := range m.lookupNetworks(fields) {
		alias, err := n.channelAlias(channel)
		if err != nil {
			continue
		}
		out = append(out, appservice.Location{Alias: alias, Protocol: ID,
			Fields: map[string]string{"network": n.id, "channel": channel}})
	}
	return out, nil
}

// ThirdPartyUsers implements bridges.ThirdPartyProvider.
func (m *Module) ThirdPartyUsers(ctx context.Context, protocol string, fields map[string]string) ([]appservice.ThirdPartyUser, error) {
	if protocol != ID {
		return nil, appservice.ErrUnknownProtocol
	}
	nick := fields["nickname"]
	if !ircfmt.ValidNick(nick, 0) {
		return nil, nil
	}
	var out []appservice.ThirdPartyUser
	for _, n := range m.lookupNetworks(fields) {
		id, err := n.puppetID(nick)
		if err != nil {
			continue
		}
		out = append(out, appservice.ThirdPartyUser{UserID: id, Protocol: ID,
			Fields: map[string]string{"network": n.id, "nickname": nick}})
	}
	return out, nil
}

// ThirdPartyLocationsByAlias implements bridges.ThirdPartyProvider.
func (m *Module) ThirdPartyLocationsByAlias(ctx context.Context, alias matrix.RoomAlias) ([]appservice.Location, error) {
	for _, id := range m.order {
		n := m.networks[id]
		v, err := n.aliases.Parse(alias)
		if err != nil {
			continue
		}
		channel := v["channel"]
		if p := n.portal(channel); p != nil {
			channel = p.name
		}
		return []appservice.Location{{Alias: alias, Protocol: ID,
			Fields: map[string]string{"network": n.id, "channel": channel}}}, nil
	}
	return nil, nil
}

// ThirdPartyUsersByID implements bridges.ThirdPartyProvider.
func (m *Module) ThirdPartyUsersByID(ctx context.Context, id matrix.UserID) ([]appservice.ThirdPartyUser, error) {
	n := m.networkForUser(id)
	if n == nil {
		return nil, nil
	}
	v, err := n.users.Parse(id)
	if err != nil {
		return nil, nil
	}
	nick := v["nick"]
	if u, ok := n.state.User(nick); ok {
		nick = u.Nick
	}
	return []appservice.ThirdPartyUser{{UserID: id, Protocol: ID,
		Fields: map[string]string{"network": n.id, "nickname": nick}}}, nil
}

var _ bridges.ThirdPartyProvider = (*Module)(nil)
