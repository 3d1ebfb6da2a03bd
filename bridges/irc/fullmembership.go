package irc

import "context"

// applyMembers mirrors the channel's current members in its portal right
// after the portal is made. The bot's NAMES reply (366) usually arrives
// before the portal exists, so the 366 handler finds no portal and cannot
// do it: with membership "full" each IRC user gets a joined puppet (with
// their nick as display name, through the room's outbox lane), and users
// with prefix modes get their power level in either membership mode.
// Puppets already joined by this run of the bridge are left alone, so a
// NAMES reply handled after the portal appeared does not join them twice.
func (n *network) applyMembers(ctx context.Context, channel string) {
	p := n.portal(channel)
	if p == nil {
		return
	}
	for _, mem := range n.state.Members(channel) {
		if n.isBridgedNick(mem.Nick) {
			continue
		}
		if n.cfg.Membership == "full" {
			if id, err := n.puppetID(mem.Nick); err == nil {
				if in, _ := n.puppets.Get(p.room, id); !in {
					n.puppetMembership(ctx, channel, mem.Nick, "join", "", nil)
				}
			}
		}
		if mem.Modes != "" {
			// Levels are set in the background, after ctx (often the
			// homeserver's alias query) has ended: the module's root ctx.
			n.queuePower(n.m.ctx, p, channel, mem.Nick)
		}
	}
}
