package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Server names and IDs of the two servers [StartInspIRCdLink] starts.
const (
	InspIRCdHubName  = "hub.test"
	InspIRCdLeafName = "leaf.test"
	inspircdHubSID   = "0HB"
	inspircdLeafSID  = "0LF"
)

// InspIRCdSplitReason is the QUIT reason each server gives its clients for
// the users of the other side when the link between hub and leaf breaks: the
// two server names, as InspIRCd does without <security hidesplits>.
const InspIRCdSplitReason = InspIRCdHubName + " " + InspIRCdLeafName

// inspircdLinkPassword authenticates the servers to each other.
const inspircdLinkPassword = "causeway-link"

// inspircdLinkTimeout bounds the wait for the leaf to (re)connect to the
// hub: its autoconnect timer runs every few seconds.
const inspircdLinkTimeout = 60 * time.Second

// InspIRCdLink is a network of two InspIRCd servers linked over
// m_spanningtree, as started by [StartInspIRCdLink]: Hub and Leaf each have
// their own client port, and the leaf connects to the hub's server port.
// Killing or stopping the leaf splits the network; starting it again heals
// the split once it has linked (see [InspIRCdLink.StartLeaf]).
type InspIRCdLink struct {
	// Hub is the server named [InspIRCdHubName]; it listens for the leaf.
	Hub *IRCServer
	// Leaf is the server named [InspIRCdLeafName]; it connects to the hub
	// by itself, at start and again after the link breaks.
	Leaf *IRCServer
}

// StartInspIRCdLink starts two linked InspIRCd servers, hub and leaf, each
// configured as [StartInspIRCd] does (opts apply to both; the module lists
// must match for the servers to link), and waits until the hub lists the
// leaf in LINKS. Both are stopped in t.Cleanup. Without
// CAUSEWAY_INSPIRCD_BIN the test skips, or fails when CI=true.
func StartInspIRCdLink(t testing.TB, opts ...InspIRCdOption) *InspIRCdLink {
	t.Helper()
	hubPort, leafPort := FreePort(t), FreePort(t)
	hubOpts := append(append([]InspIRCdOption{}, opts...), func(o *inspircdOptions) {
		o.serverName, o.sid = InspIRCdHubName, inspircdHubSID
		o.extra = append(o.extra, inspircdLinkTags(hubPort, InspIRCdLeafName, leafPort, false)...)
	})
	leafOpts := append(append([]InspIRCdOption{}, opts...), func(o *inspircdOptions) {
		o.serverName, o.sid = InspIRCdLeafName, inspircdLeafSID
		o.extra = append(o.extra, inspircdLinkTags(leafPort, InspIRCdHubName, hubPort, true)...)
	})
	l := &InspIRCdLink{Hub: StartInspIRCd(t, hubOpts...), Leaf: StartInspIRCd(t, leafOpts...)}
	ctx, cancel := context.WithTimeout(context.Background(), inspircdLinkTimeout)
	defer cancel()
	if err := l.WaitLinked(ctx); err != nil {
		t.Fatalf("%v\nhub log:\n%s\nleaf log:\n%s", err, tail(l.Hub.LogPath(), 20), tail(l.Leaf.LogPath(), 20))
	}
	return l
}

// inspircdLinkTags returns the config tags that link a server listening
// for servers on port to the server peer listening on peerPort; with
// autoconnect it connects to peer every second until linked.
func inspircdLinkTags(port int, peer string, peerPort int, autoconnect bool) []string {
	tags := []string{
		`<module name="spanningtree">`,
		fmt.Sprintf(`<bind address="127.0.0.1" port="%d" type="servers">`, port),
		fmt.Sprintf(`<link name=%q ipaddr="127.0.0.1" port="%d" allowmask="127.0.0.1/32" timeout="10s" sendpass=%q recvpass=%q>`,
			peer, peerPort, inspircdLinkPassword, inspircdLinkPassword),
	}
	if autoconnect {
		tags = append(tags, fmt.Sprintf(`<autoconnect period="1s" server=%q>`, peer))
	}
	return tags
}

// StartLeaf starts the stopped or killed leaf again and waits until it has
// linked to the hub. The restarted leaf is empty: its former clients must
// connect again.
func (l *InspIRCdLink) StartLeaf(ctx context.Context) error {
	if err := l.Leaf.Start(); err != nil {
		return fmt.Errorf("start leaf: %w", err)
	}
	return l.WaitLinked(ctx)
}

// WaitLinked waits until the hub lists the leaf in LINKS, or ctx ends.
func (l *InspIRCdLink) WaitLinked(ctx context.Context) error {
	c, err := ConnectIRC(ctx, l.Hub.Addr(), "linkprobe", WithoutCAP())
	if err != nil {
		return fmt.Errorf("wait for link: %w", err)
	}
	defer c.Close()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		linked, err := l.linkedFrom(ctx, c)
		if err != nil {
			return fmt.Errorf("wait for link: %w", err)
		}
		if linked {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never linked to %s: %w", InspIRCdLeafName, InspIRCdHubName, ctx.Err())
		case <-tick.C:
		}
	}
}

// linkedFrom asks LINKS on c and reports whether the leaf is listed.
func (l *InspIRCdLink) linkedFrom(ctx context.Context, c *IRCClient) (bool, error) {
	if err := c.Send("LINKS"); err != nil {
		return false, err
	}
	linked := false
	for {
		line, err := c.waitCtx(ctx, func(line *Line) bool { return line.Command == "364" || line.Command == "365" })
		if err != nil {
			return false, fmt.Errorf("read LINKS: %w", err)
		}
		if line.Command == "365" {
			return linked, nil
		}
		// 364 <me> <server> <uplink> :<hops> <description>
		if strings.EqualFold(line.Param(1), InspIRCdLeafName) {
			linked = true
		}
	}
}
