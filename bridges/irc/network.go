package irc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"golang.org/x/time/rate"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/bridges/irc/netstate"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/bridges/kit/mark"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// network is one configured IRC network at run time.
type network struct {
	m       *Module
	id      string
	cfg     *NetworkConfig
	users   *puppet.Namespace[matrix.UserID]
	aliases *puppet.Namespace[matrix.RoomAlias]
	state   *netstate.Network
	powers  map[rune]int
	// dialLimit spaces connection attempts across the whole network.
	dialLimit *rate.Limiter
	// shared is what the network's connections have in common (their
	// capability sets), kept once.
	shared ircconn.Shared
	// splits holds the Matrix side of netsplit quits.
	splits *netstate.Debouncer

	mu        sync.Mutex
	bot       *ircconn.Conn
	botUp     chan struct{} // closed while the bot is connected
	portals   map[string]*portal
	conns     map[matrix.UserID]*userConn
	byNick    map[string]*userConn // casefolded nick → Matrix user's connection
	profiled  map[matrix.UserID]string
	casemap   ircfmt.CaseMapping
	joinWaits map[string][]chan error // casefolded channel → bot JOIN waiters
	modes     modeWaits               // channel mode queries before a portal is created

	// Admin-command, plumbing, nick-recovery and history state, one type
	// per concern (adminstate.go); their zero values are ready.
	prefNicks nickPrefs     // nicks chosen with !nick
	nickWaits nickWaits     // !nick waiting for NICK or a refusal
	monitors  monitorWaits  // nicks being won back with MONITOR
	whoises   whoisWaits    // pending WHOIS queries
	plumbs    plumbRequests // pending "!irc link" requests
	marks     *mark.Book    // last bridged messages (history.go), set by Start
	// puppets remembers which puppets were sent into which portal rooms
	// (nickchange.go); powerQ orders power-level updates per room
	// (fromirc.go). Their zero values are ready.
	puppets kit.PuppetRooms
	powerQ  powerQueue
	// dlv holds relay-mode and password-trouble state (delivery_relay.go);
	// its zero value is ready.
	dlv deliveryState

	// ingest queues what the bot reads for the ingest goroutine
	// (ingest.go); catching holds the channels catching up on what was
	// missed (catchup.go); its zero value is ready.
	ingest   *ingestQueue
	catching catchUps
}

// portal is a bridged channel.
type portal struct {
	room    matrix.RoomID
	name    string // channel as first seen
	plumbed bool
}

func newNetwork(m *Module, id string, cfg *NetworkConfig) (*network, error) {
	users, err := puppet.NewUsers(cfg.UserTemplate, m.env.ServerName)
	if err != nil {
		return nil, err
	}
	if users, err = users.Bind("network", id); err != nil {
		return nil, err
	}
	aliases, err := puppet.NewAliases(cfg.AliasTemplate, m.env.ServerName)
	if err != nil {
		return nil, err
	}
	if aliases, err = aliases.Bind("network", id); err != nil {
		return nil, err
	}
	n := &network{
		m: m, id: id, cfg: cfg, users: users, aliases: aliases,
		state:     netstate.New(netstate.Options{}),
		powers:    cfg.modePowers(),
		dialLimit: rate.NewLimiter(rate.Limit(cfg.Reconnect.PerSecond), 1),
		botUp:     make(chan struct{}),
		portals:   map[string]*portal{},
		conns:     map[matrix.UserID]*userConn{},
		byNick:    map[string]*userConn{},
		profiled:  map[matrix.UserID]string{},
		casemap:   ircfmt.CaseMappingRFC1459,
		joinWaits: map[string][]chan error{},
		ingest:    newIngestQueue(),
	}
	n.splits = netstate.NewDebouncer(netstate.DebouncerOptions{Hold: cfg.NetsplitDelay, Fold: n.fold, Release: n.releaseSplit})
	return n, nil
}

func (n *network) log() *slog.Logger { return n.m.log.With("network", n.id) }

// fold casefolds a nick or channel by the network's CASEMAPPING.
func (n *network) fold(s string) string {
	n.mu.Lock()
	cm := n.casemap
	n.mu.Unlock()
	return ircfmt.Casefold(cm, s)
}

// puppetID is the Matrix user standing for an IRC nick. IDs use the
// casefolded nick so they survive case changes; the nick itself is the
// display name.
func (n *network) puppetID(nick string) (matrix.UserID, error) {
	return n.users.Format(puppet.Values{"nick": n.fold(nick)})
}

func (n *network) addPortal(folded string, room matrix.RoomID, meta json.RawMessage) {
	md := decodeMeta(&bridges.Portal{Meta: meta})
	name := md.Name
	if name == "" {
		name = folded
	}
	n.mu.Lock()
	n.portals[folded] = &portal{room: room, name: name, plumbed: md.Plumbed}
	n.mu.Unlock()
}

func (n *network) portal(channel string) *portal {
	f := n.fold(channel)
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.portals[f]
}

// dialConfig is the ircconn configuration shared by every connection.
func (n *network) dialConfig(nick, user, realname string, h ircconn.Handler) ircconn.Config {
	cfg := ircconn.Config{
		Addr:           n.cfg.Address,
		Nick:           nick,
		User:           user,
		RealName:       realname,
		ServerPassword: n.cfg.ServerPassword.Reveal(),
		FloodRate:      n.cfg.Flood.Rate,
		FloodBurst:     n.cfg.Flood.Burst,
		PingInterval:   n.cfg.PingInterval,
		PingTimeout:    n.cfg.PingTimeout,
		Logger:         n.log().With("nick", nick),
		Handler:        h,
		Shared:         &n.shared,
	}
	if n.cfg.TLS {
		cfg.TLS = &tls.Config{InsecureSkipVerify: n.cfg.TLSInsecure} //nolint:gosec // opt-in for tests
	}
	return cfg
}

// backoff returns the jittered exponential delay before attempt n (from 1).
func (n *network) backoff(attempt int) time.Duration {
	d := n.cfg.Reconnect.MinDelay << min(attempt-1, 16)
	if d <= 0 || d > n.cfg.Reconnect.MaxDelay {
		d = n.cfg.Reconnect.MaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

// runBot keeps the bot connected until ctx ends, rejoining bridged channels
// after every reconnect.
func (n *network) runBot(ctx context.Context) {
	log := n.log()
	// The ingest goroutine handles what the bot reads (ingest.go); the
	// heartbeat records that the bot is connected (catchup.go). Both end
	// with runBot.
	var bg sync.WaitGroup
	defer bg.Wait()
	bg.Go(func() { n.runIngest(ctx) })
	bg.Go(func() { n.runHeartbeat(ctx) })
	for attempt := 1; ctx.Err() == nil; {
		// The bot's dial counts against the network's rate but does not
		// queue behind the users' reconnects: after a server restart that
		// queue is users ÷ reconnect.per_second long, and without the bot no
		// channel traffic reaches Matrix. Its own backoff paces its retries.
		n.dialLimit.Reserve()
		cfg := n.dialConfig(n.cfg.Bot.Nick, n.cfg.Bot.Username, n.cfg.Bot.Realname, queuedBotHandler{n})
		cfg.ReadAhead = botReadAhead // ingest.go: the bot must never let the server's queue fill
		if n.cfg.Bot.SASLUsername != "" {
			cfg.SASL = &ircconn.SASL{Username: n.cfg.Bot.SASLUsername, Password: n.cfg.Bot.SASLPassword.Reveal()}
		}
		c, err := ircconn.Dial(ctx, cfg)
		if err != nil {
			d := n.backoff(attempt)
			attempt++
			log.Warn("bot connection failed; retrying", "err", err, "retry_in", d)
			if !sleepCtx(ctx, d) {
				return
			}
			continue
		}
		attempt = 1
		n.botConnected(ctx, c)
		<-c.Done()
		n.botDisconnected(c)
		if ctx.Err() != nil {
			return
		}
		log.Warn("bot connection lost; reconnecting", "err", c.Err())
		if !sleepCtx(ctx, n.backoff(1)) {
			return
		}
	}
}

func (n *network) botConnected(ctx context.Context, c *ircconn.Conn) {
	is := c.ISupport()
	n.mu.Lock()
	n.bot = c
	if cm := is.CaseMapping; cm != "" {
		n.casemap = ircfmt.CaseMapping(cm)
	}
	chans := make([]string, 0, len(n.portals))
	for _, p := range n.portals {
		chans = append(chans, p.name)
	}
	close(n.botUp)
	n.mu.Unlock()
	if err := n.state.ApplyISupport(isupportTokens(is)...); err != nil {
		n.log().Warn("server ISUPPORT not understood", "err", err)
	}
	n.log().Info("bot connected", "nick", c.Nick(), "caps", len(c.Caps()), "channels", len(chans))
	// What was missed is planned before the JOINs go out, so that the
	// channels' live lines, read after them, wait for the history.
	plan := n.planCatchUp(ctx, c, chans) // catchup.go
	for _, ch := range chans {
		if err := c.Send(ctx, nil, "JOIN", ch); err != nil {
			n.log().Warn("rejoin failed", "channel", ch, "err", err)
		}
	}
	n.requestCatchUp(ctx, c, plan)
}

func (n *network) botDisconnected(c *ircconn.Conn) {
	n.noteSeen(context.WithoutCancel(n.m.ctx), time.Now()) // catchup.go: the away notice starts here
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.bot == c {
		n.bot = nil
		n.botUp = make(chan struct{})
	}
	for ch, ws := range n.joinWaits {
		for _, w := range ws {
			w <- c.Err()
		}
		delete(n.joinWaits, ch)
	}
}

// botConn waits (bounded by ctx) for the bot connection.
func (n *network) botConn(ctx context.Context) (*ircconn.Conn, error) {
	for {
		n.mu.Lock()
		c, up := n.bot, n.botUp
		n.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, errors.New("the bridge is not connected to " + n.cfg.Name + " right now")
		}
	}
}

// botJoin makes the bot join channel and waits until the server confirms.
func (n *network) botJoin(ctx context.Context, channel string) error {
	c, err := n.botConn(ctx)
	if err != nil {
		return err
	}
	f := n.fold(channel)
	if _, ok := n.state.Member(channel, c.Nick()); ok {
		return nil
	}
	ch := make(chan error, 1)
	n.mu.Lock()
	n.joinWaits[f] = append(n.joinWaits[f], ch)
	n.mu.Unlock()
	if err := c.Send(ctx, nil, "JOIN", channel); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// joinDone ends the bot's waits for a JOIN of channel; it reports whether
// one was waiting.
func (n *network) joinDone(channel string, err error) bool {
	f := n.fold(channel)
	n.mu.Lock()
	ws := n.joinWaits[f]
	delete(n.joinWaits, f)
	n.mu.Unlock()
	for _, w := range ws {
		w <- err
	}
	return len(ws) > 0
}

// isBridgedNick reports whether nick is the bot or a Matrix user's
// connection: lines from them are echoes of Matrix messages.
func (n *network) isBridgedNick(nick string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := ircfmt.Casefold(n.casemap, nick)
	if n.bot != nil && ircfmt.Casefold(n.casemap, n.bot.Nick()) == f {
		return true
	}
	_, ok := n.byNick[f]
	return ok
}

// closeAll quits every connection of the network.
func (n *network) closeAll(reason string) {
	n.mu.Lock()
	bot := n.bot
	conns := make([]*userConn, 0, len(n.conns))
	for _, u := range n.conns {
		conns = append(conns, u)
	}
	n.mu.Unlock()
	for _, u := range conns {
		u.close(reason)
	}
	if bot != nil {
		_ = bot.Close(reason)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// nickOf returns the nick of a message's source.
func nickOf(m *ircmsg.Message) string {
	nick, _, _ := strings.Cut(m.Source, "!")
	return nick
}

// isChannel reports whether target is a channel on c's server.
func isChannel(c *ircconn.Conn, target string) bool {
	is := c.ISupport()
	return is.IsChannel(target)
}

// isupportTokens rebuilds the ISUPPORT tokens netstate needs from what the
// connection parsed.
func isupportTokens(is ircconn.ISupport) []string {
	t := []string{"CASEMAPPING=" + string(is.CaseMapping), "CHANTYPES=" + is.ChanTypes}
	if is.PrefixModes != "" {
		t = append(t, "PREFIX=("+is.PrefixModes+")"+is.PrefixSymbols)
	}
	if is.ChanModes != [4]string{} {
		t = append(t, "CHANMODES="+strings.Join(is.ChanModes[:], ","))
	}
	return t
}
