package irc

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/bridges/irc/secret"
)

// Config is the "irc" section of the configuration file.
type Config struct {
	// PasswordKey encrypts users' stored IRC passwords (!storepass) at rest:
	// 32 bytes, hex or base64. Required for !storepass; read it from the
	// environment (${CAUSEWAY_IRC_KEY}). OldPasswordKeys still decrypt.
	PasswordKey     secret.Redacted   `yaml:"password_key"`
	OldPasswordKeys []secret.Redacted `yaml:"old_password_keys"`
	// Identd answers RFC 1413 queries so each Matrix user's connection has
	// its own ident; empty disables it (e.g. "0.0.0.0:113").
	Identd string `yaml:"identd"`
	// PublicMediaURL is deprecated (use the core's homeserver.public_url,
	// through bridges.Host.MediaURL): when set, it overrides that base URL
	// for IRC media links, and Start logs a warning. Empty: not set.
	PublicMediaURL string `yaml:"public_media_url"`
	// Networks are keyed by a short network ID used in IDs and commands.
	Networks map[string]*NetworkConfig `yaml:"networks"`
}

// NetworkConfig configures one IRC network.
type NetworkConfig struct {
	// Name is shown to users ("Libera.Chat").
	Name string `yaml:"name"`
	// Address is host:port of the server.
	Address string `yaml:"address"`
	// TLS connects with TLS; TLSInsecure skips certificate verification
	// (tests only).
	TLS         bool `yaml:"tls"`
	TLSInsecure bool `yaml:"tls_insecure"`
	// ServerPassword is sent with PASS by every connection.
	ServerPassword secret.Redacted `yaml:"server_password"`

	// Bot is the bridge bot's own IRC connection: it joins every bridged
	// channel, reads it for everyone and relays for users without a
	// connection of their own.
	Bot BotConfig `yaml:"bot"`

	// UserTemplate names IRC users on Matrix; {network} is this network's
	// ID and {nick} the casefolded nick.
	UserTemplate string `yaml:"user_template"`
	// AliasTemplate names portal rooms; {channel} includes the '#'.
	AliasTemplate string `yaml:"alias_template"`
	// NickSuffix is appended to Matrix users' IRC nicks ("[m]"); empty
	// means none.
	NickSuffix string `yaml:"nick_suffix"`
	// MaxNickLength caps generated nicks before the server says otherwise.
	MaxNickLength int `yaml:"max_nick_length"`

	// MaxConnections caps the Matrix users connected at once; beyond it the
	// least recently active user is disconnected and relayed by the bot.
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout disconnects a Matrix user's connection after this long
	// without activity from them (0: never).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Reconnect controls reconnection after a connection drops.
	Reconnect ReconnectConfig `yaml:"reconnect"`
	// Flood is the per-connection token bucket for lines sent.
	Flood FloodConfig `yaml:"flood"`
	// PingInterval and PingTimeout detect dead connections.
	PingInterval time.Duration `yaml:"ping_interval"`
	PingTimeout  time.Duration `yaml:"ping_timeout"`

	// ModePowerLevels maps channel prefix modes to Matrix power levels.
	ModePowerLevels map[string]int `yaml:"mode_power_levels"`
	// Membership is "lazy" (IRC users appear in Matrix when they speak) or
	// "full" (every channel member is joined as a puppet).
	Membership string `yaml:"membership"`
	// NetsplitDelay holds quits that look like a netsplit this long,
	// cancelling them when the user rejoins.
	NetsplitDelay time.Duration `yaml:"netsplit_delay"`
	// LineLimit is the number of IRC lines a Matrix message may take; a
	// longer message is uploaded as text and a link sent instead.
	LineLimit int `yaml:"line_limit"`
	// DeliveryTimeout is how long a Matrix message waits for its sender's
	// IRC connection to come back (server restart, network trouble) before
	// it is reported as not delivered.
	DeliveryTimeout time.Duration `yaml:"delivery_timeout"`
	// EditGrace delays sending Matrix messages this long so that an edit
	// made within it replaces the original instead of adding a correction.
	EditGrace time.Duration `yaml:"edit_grace"`
	// Backfill is how many messages of a channel's history are fetched
	// with CHATHISTORY into a new portal (0: off).
	Backfill int `yaml:"backfill"`
	// CatchUpLimit is the upper bound of missed channel messages bridged
	// per channel after the bridge was away (restart, crash, lost
	// connection), fetched with CHATHISTORY; past it the room is told how
	// many messages were skipped and from when to when (0: no catch-up).
	CatchUpLimit int `yaml:"catch_up_limit"`
	// PlumbApprovalTimeout is how long a channel operator has to approve a
	// plumbing request.
	PlumbApprovalTimeout time.Duration `yaml:"plumb_approval_timeout"`
	// WebIRC, when set, sends each Matrix user's connection through WEBIRC
	// with a per-user host, so IRC operators can tell users apart.
	WebIRC *WebIRCConfig `yaml:"webirc"`
	// Channels are static mappings of channels to existing rooms.
	Channels map[string]string `yaml:"channels"`
}

// BotConfig is the bot's IRC identity on a network.
type BotConfig struct {
	Nick     string `yaml:"nick"`
	Username string `yaml:"username"`
	Realname string `yaml:"realname"`
	// SASL account; authentication fails closed.
	SASLUsername string          `yaml:"sasl_username"`
	SASLPassword secret.Redacted `yaml:"sasl_password"`
}

// ReconnectConfig bounds reconnection.
type ReconnectConfig struct {
	// MinDelay and MaxDelay bound one connection's jittered exponential
	// backoff.
	MinDelay time.Duration `yaml:"min_delay"`
	MaxDelay time.Duration `yaml:"max_delay"`
	// PerSecond caps connection attempts per second across the network, so
	// a restart of thousands of users never floods it.
	PerSecond float64 `yaml:"per_second"`
}

// FloodConfig is a token bucket.
type FloodConfig struct {
	// Rate is lines per second (0: no limit).
	Rate float64 `yaml:"rate"`
	// Burst is lines that may be sent at once.
	Burst int `yaml:"burst"`
}

// WebIRCConfig configures WEBIRC.
type WebIRCConfig struct {
	Password secret.Redacted `yaml:"password"`
	Gateway  string          `yaml:"gateway"`
	// HostSuffix builds each user's host: "<localpart>.<homeserver>.<suffix>".
	HostSuffix string `yaml:"host_suffix"`
}

var networkIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// DefaultNetworkConfig returns a network's settings when its section
// gives only the required address: the defaults example-config.yaml shows
// (bridges/irc/config_defaults_test.go keeps the two equal). The defaults
// derived from other keys (name from the network ID, bot.username from
// bot.nick) are left empty for applyDefaults.
func DefaultNetworkConfig() NetworkConfig {
	return NetworkConfig{
		Bot: BotConfig{
			Nick:     "causeway",
			Realname: "Causeway Matrix bridge",
		},
		UserTemplate:         "@irc_{network}_{nick}:{server}",
		AliasTemplate:        "#irc_{network}_{channel}:{server}",
		MaxNickLength:        30,
		MaxConnections:       1000,
		Reconnect:            ReconnectConfig{MinDelay: 2 * time.Second, MaxDelay: 5 * time.Minute, PerSecond: 5},
		Flood:                FloodConfig{Rate: 2, Burst: 5},
		ModePowerLevels:      map[string]int{"q": 50, "a": 50, "o": 50, "h": 25, "v": 1},
		Membership:           "lazy",
		NetsplitDelay:        2 * time.Minute,
		LineLimit:            3,
		DeliveryTimeout:      2 * time.Minute,
		Backfill:             50,
		CatchUpLimit:         1000,
		PlumbApprovalTimeout: 5 * time.Minute,
	}
}

// UnmarshalYAML decodes a network's section on top of
// [DefaultNetworkConfig], so a key the section leaves out gets its default
// and a key it sets keeps its value, 0 included (backfill: 0 is off). It
// takes the decode function rather than the node so that the file's
// decoder, which rejects unknown keys, decodes the section.
func (n *NetworkConfig) UnmarshalYAML(decode func(any) error) error {
	type plain NetworkConfig // without this method
	d := DefaultNetworkConfig()
	p := plain(d)
	// A map decodes into an existing one key by key: start without it so
	// that mode_power_levels replaces the default levels, not adds to them.
	p.ModePowerLevels = nil
	if err := decode(&p); err != nil {
		return err
	}
	if p.ModePowerLevels == nil {
		p.ModePowerLevels = d.ModePowerLevels
	}
	*n = NetworkConfig(p)
	return nil
}

// applyDefaults fills the defaults derived from other keys, and gives the
// keys for which zero means nothing their default when zero (a
// NetworkConfig built in Go rather than decoded, or a key set to 0 or "").
// Backfill and CatchUpLimit are not among them: their 0 means off.
func (n *NetworkConfig) applyDefaults(id string) {
	d := DefaultNetworkConfig()
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&n.Name, id)
	def(&n.Bot.Nick, d.Bot.Nick)
	def(&n.Bot.Username, n.Bot.Nick)
	def(&n.Bot.Realname, d.Bot.Realname)
	def(&n.UserTemplate, d.UserTemplate)
	def(&n.AliasTemplate, d.AliasTemplate)
	def(&n.Membership, d.Membership)
	defInt := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	defDur := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	defInt(&n.MaxNickLength, d.MaxNickLength)
	defInt(&n.MaxConnections, d.MaxConnections)
	defDur(&n.Reconnect.MinDelay, d.Reconnect.MinDelay)
	defDur(&n.Reconnect.MaxDelay, d.Reconnect.MaxDelay)
	if n.Reconnect.PerSecond == 0 {
		n.Reconnect.PerSecond = d.Reconnect.PerSecond
	}
	if n.Flood.Rate == 0 && n.Flood.Burst == 0 {
		n.Flood = d.Flood
	}
	if n.ModePowerLevels == nil {
		n.ModePowerLevels = d.ModePowerLevels
	}
	defDur(&n.NetsplitDelay, d.NetsplitDelay)
	defInt(&n.LineLimit, d.LineLimit)
	defDur(&n.DeliveryTimeout, d.DeliveryTimeout)
	defDur(&n.PlumbApprovalTimeout, d.PlumbApprovalTimeout)
}

// validate checks one network's settings.
func (n *NetworkConfig) validate(id string) error {
	var errs []error
	if !networkIDRE.MatchString(id) {
		errs = append(errs, fmt.Errorf("network ID %q must be 1-32 of a-z 0-9 -", id))
	}
	if n.Address == "" {
		errs = append(errs, fmt.Errorf("networks.%s.address is required", id))
	}
	if !ircfmt.ValidNick(n.Bot.Nick, 30) {
		errs = append(errs, fmt.Errorf("networks.%s.bot.nick %q is not a valid IRC nick", id, n.Bot.Nick))
	}
	switch n.Membership {
	case "lazy", "full":
	default:
		errs = append(errs, fmt.Errorf("networks.%s.membership %q must be lazy or full", id, n.Membership))
	}
	for m := range n.ModePowerLevels {
		if len(m) != 1 {
			errs = append(errs, fmt.Errorf("networks.%s.mode_power_levels: %q is not a single mode letter", id, m))
		}
	}
	if n.Flood.Rate < 0 || n.Flood.Burst < 0 || n.Reconnect.PerSecond <= 0 || n.LineLimit < 1 {
		errs = append(errs, fmt.Errorf("networks.%s: flood, reconnect.per_second and line_limit must be positive", id))
	}
	if n.Backfill < 0 {
		errs = append(errs, fmt.Errorf("networks.%s.backfill %d must not be negative", id, n.Backfill))
	}
	if n.CatchUpLimit < 0 {
		errs = append(errs, fmt.Errorf("networks.%s.catch_up_limit %d must not be negative", id, n.CatchUpLimit))
	}
	return errors.Join(errs...)
}

// Validate checks the whole section.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Networks) == 0 {
		errs = append(errs, errors.New("at least one network is required under networks"))
	}
	ids := make([]string, 0, len(c.Networks))
	for id := range c.Networks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		n := c.Networks[id]
		if n == nil {
			errs = append(errs, fmt.Errorf("networks.%s is empty", id))
			continue
		}
		n.applyDefaults(id)
		if err := n.validate(id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// modePowers converts the configured map to runes for netstate.
func (n *NetworkConfig) modePowers() map[rune]int {
	out := make(map[rune]int, len(n.ModePowerLevels))
	for k, v := range n.ModePowerLevels {
		out[rune(k[0])] = v
	}
	return out
}
