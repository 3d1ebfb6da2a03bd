package irc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/matrix"
)

// deliveryState is a network's Matrix→IRC delivery bookkeeping: who is
// relayed by the bot because of the connection cap, and who has been told
// that their stored password cannot be used. Its zero value is ready.
type deliveryState struct {
	mu sync.Mutex
	// evicted holds the users the connection cap disconnected: their
	// channel messages are relayed by the bot while the network is still
	// at max_connections.
	evicted map[matrix.UserID]bool
	// toldPassword holds the users told in their admin room that their
	// stored password cannot be used (once, until they store another).
	toldPassword map[matrix.UserID]bool

	// relayBot is the bot connection that relayed what relayed remembers:
	// the Matrix messages it relayed without confirmation, per casefolded
	// channel, so that a late refusal reaches their senders
	// (delivery_late.go). A numeric on a later bot connection answers
	// nothing sent on an earlier one.
	relayBot *ircconn.Conn
	relayed  unconfirmedSends

	// refused holds, per user, the channels (casefolded) whose JOIN IRC
	// refused them (a ban, invite-only, a key...), with the refusal,
	// until one of their connections joins the channel: the bot does not
	// relay them there, not even after the connection cap disconnected
	// them, which would evade the refusal.
	refused map[matrix.UserID]map[string]error
}

// noteJoin records how user's JOIN of channel (folded) ended: a refusal
// by the server is kept, a join clears it; other failures (the connection
// dropped) say nothing about the channel and change nothing.
func (d *deliveryState) noteJoin(user matrix.UserID, channel string, err error) {
	var refusal *ircconn.NumericError
	if err != nil && !errors.As(err, &refusal) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		delete(d.refused[user], channel)
		if len(d.refused[user]) == 0 {
			delete(d.refused, user)
		}
		return
	}
	if d.refused == nil {
		d.refused = map[matrix.UserID]map[string]error{}
	}
	if d.refused[user] == nil {
		d.refused[user] = map[string]error{}
	}
	d.refused[user][channel] = err
}

// refusal returns IRC's refusal of user's last JOIN of channel (folded),
// or nil when none stands.
func (d *deliveryState) refusal(user matrix.UserID, channel string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused[user][channel]
}

// rememberRelay records evt as the latest message the bot relays to
// target (folded) on bot without confirmation yet.
func (d *deliveryState) rememberRelay(bot *ircconn.Conn, target string, evt *matrix.Event) {
	d.mu.Lock()
	defer d.mu.Unlock() // held across both steps: a bot reconnect may not come between
	if d.relayBot != bot {
		d.relayBot = bot
		d.relayed.reset()
	}
	d.relayed.remember(target, evt, time.Now())
}

// forgetRelay drops the record of evt's relay to target (folded): the
// server confirmed it, or refused it while the bot waited (the sender is
// told by the relay's caller).
func (d *deliveryState) forgetRelay(target string, evt matrix.EventID) {
	d.relayed.forget(target, evt)
}

// takeRelayed removes and returns the message bot last relayed to target
// (folded; "" for the latest to any target) without confirmation.
func (d *deliveryState) takeRelayed(bot *ircconn.Conn, target string) (sentEvent, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.relayBot != bot {
		return sentEvent{}, false
	}
	if target == "" {
		return d.relayed.takeLatest(time.Now())
	}
	return d.relayed.take(target, time.Now())
}

// markEvicted records that the connection cap disconnected user.
func (d *deliveryState) markEvicted(user matrix.UserID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.evicted == nil {
		d.evicted = map[matrix.UserID]bool{}
	}
	d.evicted[user] = true
}

// clearEvicted ends user's relay mode (they are connected again).
func (d *deliveryState) clearEvicted(user matrix.UserID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.evicted, user)
}

func (d *deliveryState) isEvicted(user matrix.UserID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.evicted[user]
}

// firstPasswordTell reports whether user has not been told yet that their
// stored password cannot be used, and records that they now are.
func (d *deliveryState) firstPasswordTell(user matrix.UserID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.toldPassword[user] {
		return false
	}
	if d.toldPassword == nil {
		d.toldPassword = map[matrix.UserID]bool{}
	}
	d.toldPassword[user] = true
	return true
}

// forgetPasswordTell lets the next unusable-password failure be told
// again (the user stored a new password).
func (d *deliveryState) forgetPasswordTell(user matrix.UserID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.toldPassword, user)
}

// capRelayed reports whether user's channel messages go through the bot
// because the connection cap disconnected them and the network is still
// full. Once a connection is free they dial again (and leave relay mode).
func (n *network) capRelayed(user matrix.UserID) bool {
	if !n.dlv.isEvicted(user) {
		return false
	}
	if n.liveConns() < n.cfg.MaxConnections {
		n.dlv.clearEvicted(user)
		return false
	}
	return true
}

// liveConns counts the Matrix users' connections that are up.
func (n *network) liveConns() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	live := 0
	for _, u := range n.conns {
		u.mu.Lock()
		if u.conn != nil {
			live++
		}
		u.mu.Unlock()
	}
	return live
}

// relayable reports whether a channel message the sender's own connection
// could not send may go through the bot instead: only when the connection
// itself is the trouble (the server unreachable or not answering for
// delivery_timeout). Never when IRC refused the user (a ban, invite-only,
// a key, a registered-only channel, a refused registration or password):
// relaying would evade the refusal, so the sender gets a notice instead.
func relayable(ctx context.Context, err error) bool {
	return err != nil && !permanent(err) && ctx.Err() == nil
}

// canRelaymsg reports whether the bot may relay to channel with RELAYMSG:
// the server offers draft/relaymsg and the bot is a channel operator there
// (servers such as Ergo refuse RELAYMSG from anyone else, with a FAIL the
// bot would not see as a failed message). Otherwise it relays as
// "<nick> text", which any member may send.
func (n *network) canRelaymsg(bot *ircconn.Conn, channel string) bool {
	if !bot.HasCap("draft/relaymsg") {
		return false
	}
	me, ok := n.state.Member(channel, bot.Nick())
	return ok && strings.ContainsAny(me.Modes, "qao")
}
