package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// portalLookup is what the router needs from the store.
type portalLookup interface {
	PortalByRoom(ctx context.Context, roomID string) (store.Portal, error)
	// PutPortal moves a portal to its upgraded room.
	PutPortal(ctx context.Context, p store.Portal) error
}

// botActions is what the router needs to act as the bridge bot.
type botActions interface {
	// JoinAsBot makes the bot join a room it was invited to.
	JoinAsBot(ctx context.Context, room matrix.RoomID) error
	// Notice sends a notice as the bot.
	Notice(ctx context.Context, room matrix.RoomID, text string) error
}

// stateObserver keeps the intent state cache in step with what the
// homeserver says (memberships, power levels), echoes included.
type stateObserver interface {
	ObserveEvent(ctx context.Context, evt *matrix.Event) error
}

// module is one enabled module with its compiled namespaces.
type module struct {
	id      string
	network string // Info.Network, or the ID
	m       bridges.Module
	// links resolves the events a Matrix event relates to into the
	// module's remote messages; nil leaves them unresolved.
	links   bridges.Links
	users   []*regexp.Regexp
	aliases []*regexp.Regexp
	protos  []string
}

func (m *module) ownsUser(id matrix.UserID) bool {
	for _, re := range m.users {
		if re.MatchString(string(id)) {
			return true
		}
	}
	return false
}

func (m *module) ownsAlias(a matrix.RoomAlias) bool {
	for _, re := range m.aliases {
		if re.MatchString(string(a)) {
			return true
		}
	}
	return false
}

// Router routes appservice events to the modules that own them. It
// implements appservice.Handler.
type Router struct {
	log      *slog.Logger
	bot      matrix.UserID
	admins   map[matrix.UserID]bool
	modules  []*module
	byID     map[string]*module
	portals  portalLookup
	actions  botActions
	observer stateObserver
	commands *commandTable
	// rooms, when set, keeps the management room of a user who runs a
	// command in a direct chat with the bot.
	rooms *mgmtRooms
	// unsupported tells a portal room what its module does not bridge;
	// nil only logs it.
	unsupported *unsupportedNotices
}

func newRouter(log *slog.Logger, bot matrix.UserID, admins []string, mods []bridges.Module, portals portalLookup, actions botActions, observer stateObserver) (*Router, error) {
	r := &Router{log: log, bot: bot, admins: map[matrix.UserID]bool{}, byID: map[string]*module{},
		portals: portals, actions: actions, observer: observer, commands: newCommandTable()}
	for _, a := range admins {
		r.admins[matrix.UserID(a)] = true
	}
	for _, m := range mods {
		ns := m.Namespaces()
		mod := &module{id: m.Info().ID, network: m.Info().Network, m: m, protos: ns.Protocols}
		if mod.network == "" {
			mod.network = mod.id
		}
		for _, s := range ns.UserRegexes {
			re, err := regexp.Compile(s)
			if err != nil {
				return nil, fmt.Errorf("module %s: user namespace %q: %w", mod.id, s, err)
			}
			mod.users = append(mod.users, re)
		}
		for _, s := range ns.AliasRegexes {
			re, err := regexp.Compile(s)
			if err != nil {
				return nil, fmt.Errorf("module %s: alias namespace %q: %w", mod.id, s, err)
			}
			mod.aliases = append(mod.aliases, re)
		}
		r.modules = append(r.modules, mod)
		r.byID[mod.id] = mod
		if cp, ok := m.(bridges.CommandProvider); ok {
			if err := r.commands.add(mod.id, cp.Commands()); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// IsBridged reports whether id is the bot or a puppet of any module: such
// senders are the bridge's own echoes.
func (r *Router) IsBridged(id matrix.UserID) bool {
	if id == r.bot {
		return true
	}
	for _, m := range r.modules {
		if m.ownsUser(id) {
			return true
		}
	}
	return false
}

// HandleEvent routes one timeline or state event. Called per room in order.
func (r *Router) HandleEvent(ctx context.Context, evt *matrix.Event) error {
	log := r.log.With("event_id", evt.ID, "room_id", evt.RoomID, "type", evt.Type)
	if r.observer != nil {
		if err := r.observer.ObserveEvent(ctx, evt); err != nil {
			return err
		}
	}
	if r.IsBridged(evt.Sender) {
		log.Debug("dropping echo of the bridge's own event", "sender", evt.Sender)
		return nil
	}
	// Invites and other membership changes that concern a puppet go to the
	// module owning that puppet, whatever the room.
	if evt.Type == matrix.EventMember && evt.StateKey != nil {
		target := matrix.UserID(*evt.StateKey)
		if target == r.bot {
			return r.handleBotMembership(ctx, evt)
		}
		for _, m := range r.modules {
			if m.ownsUser(target) {
				p, err := r.portal(ctx, evt.RoomID)
				if err != nil {
					return err
				}
				if p != nil && p.Module != m.id {
					p = nil // a portal of another module: not this module's business
				}
				return r.membership(ctx, m, p, evt)
			}
		}
	}
	p, err := r.portal(ctx, evt.RoomID)
	if err != nil {
		return err
	}
	if p == nil {
		return r.handleUnowned(ctx, evt)
	}
	m := r.byID[p.Module]
	if m == nil {
		log.Warn("event in a portal of a module that is not enabled", "module", p.Module)
		return nil
	}
	return r.dispatch(ctx, log, m, p, evt)
}

// portal returns the portal of room, nil when the room is not one.
func (r *Router) portal(ctx context.Context, room matrix.RoomID) (*bridges.Portal, error) {
	sp, err := r.portals.PortalByRoom(ctx, string(room))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up portal: %w", err)
	}
	return &bridges.Portal{Module: sp.Module, Key: bridges.ParsePortalKey(sp.RemoteID), Room: matrix.RoomID(sp.RoomID), Meta: sp.Meta}, nil
}

// membership hands a membership event to m, typed when m takes it so.
func (r *Router) membership(ctx context.Context, m *module, p *bridges.Portal, evt *matrix.Event) error {
	mh, ok := m.m.(bridges.MembershipHandler)
	if !ok || evt.StateKey == nil {
		return m.m.HandleMatrixEvent(ctx, evt)
	}
	var c matrix.MemberContent
	if err := json.Unmarshal(evt.Content, &c); err != nil {
		r.log.Info("ignoring membership with malformed content", "event_id", evt.ID, "err", err)
		return nil
	}
	return mh.HandleMatrixMembership(ctx, &bridges.Membership{Portal: p, Event: evt, Target: matrix.UserID(*evt.StateKey), Content: c})
}

// followTombstone moves portal p to the room that replaces its room (a
// room upgrade): the bot joins the replacement, the portal's room changes
// in the store, and the module is told (bridges.PortalMover). The
// homeserver lets only those with the power to upgrade send the
// tombstone.
func (r *Router) followTombstone(ctx context.Context, log *slog.Logger, m *module, p *bridges.Portal, evt *matrix.Event) error {
	var c struct {
		Replacement matrix.RoomID `json:"replacement_room"`
	}
	if err := json.Unmarshal(evt.Content, &c); err != nil || c.Replacement == "" || c.Replacement == p.Room {
		log.Info("ignoring a tombstone without a replacement room", "err", err)
		return nil
	}
	if _, err := r.portals.PortalByRoom(ctx, string(c.Replacement)); err == nil {
		log.Warn("portal room upgraded into a room that is already a portal; not moved", "replacement", c.Replacement)
		return nil
	}
	if err := r.actions.JoinAsBot(ctx, c.Replacement); err != nil {
		return fmt.Errorf("join the replacement room %s: %w", c.Replacement, err)
	}
	from := p.Room
	moved := *p
	moved.Room = c.Replacement
	if err := r.portals.PutPortal(ctx, store.Portal{Module: p.Module, RemoteID: p.Key.String(), RoomID: string(moved.Room), Meta: p.Meta}); err != nil {
		return fmt.Errorf("move portal %s to %s: %w", p.Key, c.Replacement, err)
	}
	log.Info("portal room upgraded; the portal follows", "module", m.id, "portal", p.Key.String(), "replacement", c.Replacement)
	if pm, ok := m.m.(bridges.PortalMover); ok {
		return pm.PortalMoved(ctx, &moved, from)
	}
	return nil
}

// remote resolves a related event into m's remote message, nil when it
// has none.
func (r *Router) remote(ctx context.Context, log *slog.Logger, m *module, event matrix.EventID) *bridges.Link {
	if m.links == nil || event == "" {
		return nil
	}
	l, err := m.links.ByEvent(ctx, event)
	if err != nil {
		if !errors.Is(err, bridges.ErrNotFound) {
			log.Warn("could not look up the remote message of an event", "target", event, "err", err)
		}
		return nil
	}
	return &l
}

// dispatch classifies evt, an event in m's portal p, and calls the
// matching capability of m.
func (r *Router) dispatch(ctx context.Context, log *slog.Logger, m *module, p *bridges.Portal, evt *matrix.Event) error {
	switch {
	case evt.Type == matrix.EventMember:
		return r.membership(ctx, m, p, evt)
	case evt.Type == matrix.EventTombstone && evt.StateKey != nil && *evt.StateKey == "":
		return r.followTombstone(ctx, log, m, p, evt)
	}
	if !p.MayAct(evt.Sender) {
		log.Debug("event in another user's direct chat portal ignored", "sender", evt.Sender, "receiver", p.Key.Receiver)
		return nil
	}
	switch evt.Type {
	case matrix.EventMessage:
		var c matrix.MessageContent
		if err := json.Unmarshal(evt.Content, &c); err != nil {
			log.Info("ignoring message with malformed content", "err", err)
			return nil
		}
		if c.RelatesTo != nil && c.RelatesTo.RelType == "m.replace" {
			eh, ok := m.m.(bridges.EditHandler)
			if !ok {
				r.notSupported(ctx, log, m, evt, "edit")
				return nil
			}
			e := &bridges.Edit{Portal: p, Event: evt, Target: c.RelatesTo.EventID}
			if c.NewContent != nil {
				e.NewContent = *c.NewContent
			} else {
				e.NewContent = c
			}
			e.TargetRemote = r.remote(ctx, log, m, e.Target)
			return r.declined(ctx, log, m, evt, "edit", eh.HandleMatrixEdit(ctx, e))
		}
		if mh, ok := m.m.(bridges.MessageHandler); ok {
			msg := &bridges.Message{Portal: p, Event: evt, Content: c}
			if c.RelatesTo != nil && c.RelatesTo.InReplyTo != nil {
				msg.ReplyTo = c.RelatesTo.InReplyTo.EventID
				msg.ReplyToRemote = r.remote(ctx, log, m, msg.ReplyTo)
			}
			return mh.HandleMatrixMessage(ctx, msg)
		}
	case matrix.EventTopic:
		if th, ok := m.m.(bridges.TopicHandler); ok {
			var c struct {
				Topic string `json:"topic"`
			}
			if err := json.Unmarshal(evt.Content, &c); err != nil {
				log.Info("ignoring topic with malformed content", "err", err)
				return nil
			}
			return th.HandleMatrixTopic(ctx, &bridges.Topic{Portal: p, Event: evt, Topic: c.Topic})
		}
	case matrix.EventReaction:
		var c struct {
			RelatesTo matrix.RelatesTo `json:"m.relates_to"`
		}
		if err := json.Unmarshal(evt.Content, &c); err != nil || c.RelatesTo.RelType != "m.annotation" {
			return nil
		}
		rh, ok := m.m.(bridges.ReactionHandler)
		if !ok {
			r.notSupported(ctx, log, m, evt, "reaction")
			return nil
		}
		return r.declined(ctx, log, m, evt, "reaction", rh.HandleMatrixReaction(ctx, &bridges.Reaction{Portal: p, Event: evt,
			Target: c.RelatesTo.EventID, TargetRemote: r.remote(ctx, log, m, c.RelatesTo.EventID), Key: c.RelatesTo.Key}))
	case matrix.EventRedaction:
		rh, ok := m.m.(bridges.RedactionHandler)
		if !ok {
			r.notSupported(ctx, log, m, evt, "redaction")
			return nil
		}
		var c struct {
			Redacts matrix.EventID `json:"redacts"`
			Reason  string         `json:"reason"`
		}
		_ = json.Unmarshal(evt.Content, &c)
		target := evt.Redacts
		if target == "" {
			target = c.Redacts // room v11 moved redacts into content
		}
		return r.declined(ctx, log, m, evt, "redaction", rh.HandleMatrixRedaction(ctx, &bridges.Redaction{Portal: p, Event: evt,
			Target: target, TargetRemote: r.remote(ctx, log, m, target), Reason: c.Reason}))
	}
	return m.m.HandleMatrixEvent(ctx, evt)
}

// declined passes on err, the result of m's handler for evt, unless it
// is bridges.ErrUnsupported: then the room is told, as for a module
// without the capability, and the event is done.
func (r *Router) declined(ctx context.Context, log *slog.Logger, m *module, evt *matrix.Event, kind string, err error) error {
	if errors.Is(err, bridges.ErrUnsupported) {
		r.notSupported(ctx, log, m, evt, kind)
		return nil
	}
	return err
}

// notSupported logs that m lacks the capability for evt (an edit, a
// reaction, a redaction) and tells the room, once per window.
func (r *Router) notSupported(ctx context.Context, log *slog.Logger, m *module, evt *matrix.Event, kind string) {
	log.Debug("not bridged: the module lacks the capability", "module", m.id, "kind", kind)
	if r.unsupported != nil {
		r.unsupported.report(ctx, log, evt, kind, m.network)
	}
}

func (r *Router) handleBotMembership(ctx context.Context, evt *matrix.Event) error {
	var c matrix.MemberContent
	if err := json.Unmarshal(evt.Content, &c); err != nil {
		return nil
	}
	if c.Membership == "invite" {
		r.log.Info("bot invited to a room; joining", "room_id", evt.RoomID, "inviter", evt.Sender)
		if err := r.actions.JoinAsBot(ctx, evt.RoomID); err != nil {
			return fmt.Errorf("join %s as bot: %w", evt.RoomID, err)
		}
		return r.actions.Notice(ctx, evt.RoomID, "Hello! I am the Causeway bridge bot. Send !help for commands.")
	}
	return nil
}

// handleUnowned handles events in rooms that are not portals: the only thing
// the core does there is run bot commands.
func (r *Router) handleUnowned(ctx context.Context, evt *matrix.Event) error {
	text, ok := commandText(evt)
	if !ok || !strings.HasPrefix(text, "!") {
		return nil
	}
	return r.runCommand(ctx, evt, text[1:])
}

func commandText(evt *matrix.Event) (string, bool) {
	if evt.Type != matrix.EventMessage {
		return "", false
	}
	var c matrix.MessageContent
	if json.Unmarshal(evt.Content, &c) != nil || c.MsgType != matrix.MsgText || (c.RelatesTo != nil && c.RelatesTo.RelType == "m.replace") {
		return "", false
	}
	return strings.TrimSpace(c.Body), true
}

func (r *Router) runCommand(ctx context.Context, evt *matrix.Event, line string) error {
	isAdmin := r.admins[evt.Sender]
	if r.rooms != nil {
		r.rooms.remember(ctx, evt.Sender, evt.RoomID)
	}
	call, reply := r.commands.lookup(line, isAdmin)
	if reply != "" {
		return r.actions.Notice(ctx, evt.RoomID, reply)
	}
	if call.cmd.AdminOnly && !isAdmin {
		return r.actions.Notice(ctx, evt.RoomID, fmt.Sprintf("!%s is for bridge admins only.", call.typed))
	}
	reply, err := call.cmd.Run(ctx, &bridges.CommandContext{RoomID: evt.RoomID, Sender: evt.Sender, Event: evt,
		Args: strings.Fields(call.rest), Raw: strings.TrimSpace(call.rest), IsAdmin: isAdmin})
	if err != nil {
		r.log.Warn("command failed", "command", call.typed, "module", call.module, "sender", evt.Sender, "err", err)
		reply = fmt.Sprintf("!%s failed: %v", call.typed, err)
	}
	if reply == "" {
		return nil
	}
	return r.actions.Notice(ctx, evt.RoomID, reply)
}

// HandleEphemeral routes typing, receipts and presence to modules that
// declared the matching capability.
func (r *Router) HandleEphemeral(ctx context.Context, evt *matrix.Event) {
	switch evt.Type {
	case matrix.EventTyping:
		var c struct {
			UserIDs []matrix.UserID `json:"user_ids"`
		}
		if json.Unmarshal(evt.Content, &c) != nil {
			return
		}
		users := c.UserIDs[:0]
		for _, u := range c.UserIDs {
			if !r.IsBridged(u) {
				users = append(users, u)
			}
		}
		if m := r.roomModule(ctx, evt.RoomID); m != nil {
			if th, ok := m.m.(bridges.TypingHandler); ok {
				th.HandleMatrixTyping(ctx, &bridges.Typing{RoomID: evt.RoomID, UserIDs: users})
			}
		}
	case matrix.EventReceipt:
		var c map[matrix.EventID]map[string]map[matrix.UserID]json.RawMessage
		if json.Unmarshal(evt.Content, &c) != nil {
			return
		}
		m := r.roomModule(ctx, evt.RoomID)
		if m == nil {
			return
		}
		rh, ok := m.m.(bridges.ReceiptHandler)
		if !ok {
			return
		}
		for eid, kinds := range c {
			for kind, users := range kinds {
				if kind != "m.read" && kind != "m.read.private" {
					continue
				}
				for u := range users {
					if !r.IsBridged(u) {
						rh.HandleMatrixReceipt(ctx, &bridges.Receipt{RoomID: evt.RoomID, UserID: u, EventID: eid})
					}
				}
			}
		}
	case matrix.EventPresence:
		if r.IsBridged(evt.Sender) {
			return
		}
		var c struct {
			Presence  string `json:"presence"`
			StatusMsg string `json:"status_msg"`
		}
		if json.Unmarshal(evt.Content, &c) != nil || c.Presence == "" {
			return
		}
		for _, m := range r.modules {
			if ph, ok := m.m.(bridges.PresenceHandler); ok {
				ph.HandleMatrixPresence(ctx, &bridges.Presence{UserID: evt.Sender, Presence: c.Presence, StatusMsg: c.StatusMsg})
			}
		}
	}
}

func (r *Router) roomModule(ctx context.Context, room matrix.RoomID) *module {
	p, err := r.portals.PortalByRoom(ctx, string(room))
	if err != nil {
		return nil
	}
	return r.byID[p.Module]
}

// QueryUser asks the module owning id's namespace whether the user exists.
func (r *Router) QueryUser(ctx context.Context, id matrix.UserID) (bool, error) {
	for _, m := range r.modules {
		if m.ownsUser(id) {
			if q, ok := m.m.(bridges.UserQuerier); ok {
				return q.QueryUser(ctx, id)
			}
			return false, nil
		}
	}
	return false, nil
}

// QueryAlias asks the module owning alias's namespace to create the room.
func (r *Router) QueryAlias(ctx context.Context, alias matrix.RoomAlias) (bool, error) {
	for _, m := range r.modules {
		if m.ownsAlias(alias) {
			if q, ok := m.m.(bridges.AliasQuerier); ok {
				return q.QueryAlias(ctx, alias)
			}
			return false, nil
		}
	}
	return false, nil
}

func (r *Router) protocolModule(protocol string) bridges.ThirdPartyProvider {
	for _, m := range r.modules {
		for _, p := range m.protos {
			if p == protocol {
				if tp, ok := m.m.(bridges.ThirdPartyProvider); ok {
					return tp
				}
			}
		}
	}
	return nil
}

// ThirdPartyProtocol implements appservice.ThirdPartyHandler.
func (r *Router) ThirdPartyProtocol(ctx context.Context, protocol string) (*appservice.Protocol, error) {
	tp := r.protocolModule(protocol)
	if tp == nil {
		return nil, appservice.ErrUnknownProtocol
	}
	return tp.ThirdPartyProtocol(ctx, protocol)
}

// ThirdPartyLocations implements appservice.ThirdPartyHandler.
func (r *Router) ThirdPartyLocations(ctx context.Context, protocol string, fields map[string]string) ([]appservice.Location, error) {
	tp := r.protocolModule(protocol)
	if tp == nil {
		return nil, appservice.ErrUnknownProtocol
	}
	return tp.ThirdPartyLocations(ctx, protocol, fields)
}

// ThirdPartyUsers implements appservice.ThirdPartyHandler.
func (r *Router) ThirdPartyUsers(ctx context.Context, protocol string, fields map[string]string) ([]appservice.ThirdPartyUser, error) {
	tp := r.protocolModule(protocol)
	if tp == nil {
		return nil, appservice.ErrUnknownProtocol
	}
	return tp.ThirdPartyUsers(ctx, protocol, fields)
}

// ThirdPartyLocationsByAlias implements appservice.ThirdPartyHandler.
func (r *Router) ThirdPartyLocationsByAlias(ctx context.Context, alias matrix.RoomAlias) ([]appservice.Location, error) {
	for _, m := range r.modules {
		if tp, ok := m.m.(bridges.ThirdPartyProvider); ok && m.ownsAlias(alias) {
			return tp.ThirdPartyLocationsByAlias(ctx, alias)
		}
	}
	return nil, nil
}

// ThirdPartyUsersByID implements appservice.ThirdPartyHandler.
func (r *Router) ThirdPartyUsersByID(ctx context.Context, id matrix.UserID) ([]appservice.ThirdPartyUser, error) {
	for _, m := range r.modules {
		if tp, ok := m.m.(bridges.ThirdPartyProvider); ok && m.ownsUser(id) {
			return tp.ThirdPartyUsersByID(ctx, id)
		}
	}
	return nil, nil
}

var (
	_ appservice.Handler           = (*Router)(nil)
	_ appservice.ThirdPartyHandler = (*Router)(nil)
)
