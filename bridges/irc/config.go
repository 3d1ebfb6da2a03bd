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
	// PublicMediaURL is the base URL IRC users open media links at (your
	// homeserver's public URL); default: homeserver.url.
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
	// Backfill is how many missed channel messages are fetched with
	// CHATHISTORY into a new portal or after downtime (0: off).
	Backfill int `yaml:"backfill"`
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

// applyDefaults fills unset values.
func (n *NetworkConfig) applyDefaults(id string) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&n.Name, id)
	def(&n.Bot.Nick, "causeway")
	def(&n.Bot.Username, n.Bot.Nick)
	def(&n.Bot.Realname, "Causeway Matrix bridge")
	def(&n.UserTemplate, "@irc_{network}_{nick}:{server}")
	def(&n.AliasTemplate, "#irc_{network}_{channel}:{server}")
	def(&n.Membership, "lazy")
	if n.MaxNickLength == 0 {
		n.MaxNickLength = 30
	}
	if n.MaxConnections == 0 {
		n.MaxConnections = 1000
	}
	if n.Reconnect.MinDelay == 0 {
		n.Reconnect.MinDelay = 2 * time.Second
	}
	if n.Reconnect.MaxDelay == 0 {
		n.Reconnect.MaxDelay = 5 * time.Minute
	}
	if n.Reconnect.PerSecond == 0 {
		n.Reconnect.PerSecond = 5
	}
	if n.Flood.Rate == 0 && n.Flood.Burst == 0 {
		n.Flood = FloodConfig{Rate: 2, Burst: 5}
	}
	if n.ModePowerLevels == nil {
		n.ModePowerLevels = map[string]int{"q": 50, "a": 50, "o": 50, "h": 25, "v": 1}
	}
	if n.NetsplitDelay == 0 {
		n.NetsplitDelay = 2 * time.Minute
	}
	if n.LineLimit == 0 {
		n.LineLimit = 3
	}
	if n.DeliveryTimeout == 0 {
		n.DeliveryTimeout = 2 * time.Minute
	}
	if n.PlumbApprovalTimeout == 0 {
		n.PlumbApprovalTimeout = 5 * time.Minute
	}
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
