package xmpp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
)

// Config is the module's section of the configuration file. DefaultConfig
// holds the values example-config.yaml shows for every key that has a
// default (config_defaults_test.go keeps the two in step); Configure
// decodes the section on top of it.
type Config struct {
	// Server is the XMPP server's component listener, host:port
	// (Prosody's component_ports, 5347 by default).
	Server string `yaml:"server"`
	// Domain is the component's domain as the XMPP server knows it (a
	// Prosody `Component "matrix.example.org"`). Required.
	Domain string `yaml:"domain"`
	// Secret is the component's shared secret (Prosody's component_secret).
	// Required; never logged.
	Secret string `yaml:"secret"`
	// UserTemplate is the Matrix user ID template of XMPP puppets; {name}
	// is the escaped XMPP user.
	UserTemplate string `yaml:"user_template"`
	// MaxStanzaBytes bounds one incoming stanza; larger ones are refused
	// with a policy-violation error.
	MaxStanzaBytes int `yaml:"max_stanza_bytes"`
	// ReconnectMaxDelay caps the wait between reconnect attempts.
	ReconnectMaxDelay time.Duration `yaml:"reconnect_max_delay"`
	// MaxJoinOccupants bounds the Matrix members whose presence an XMPP
	// user gets on joining a room: the most powerful first. Big rooms
	// stay cheap to join; the others appear when they speak. 0 sends
	// none.
	MaxJoinOccupants int `yaml:"max_join_occupants"`
	// HistoryOnJoin is how many of a room's latest messages (read from
	// Matrix) an XMPP user gets on joining when its join does not say
	// (XEP-0045 <history/>); 0 sends none unless asked. A join asking
	// for more gets at most MaxHistoryStanzas.
	HistoryOnJoin int `yaml:"history_on_join"`
	// AliasTemplate is the Matrix room alias template of portals to
	// existing MUCs on the XMPP network (reverse.go): {room} is the MUC's
	// localpart, {service} its service domain. Joining
	// #_xmpp_lounge_conference.example.org:server opens a portal to
	// lounge@conference.example.org.
	AliasTemplate string `yaml:"alias_template"`
	// MUCBackfill is how many of an existing MUC's latest messages (from
	// its XEP-0313 archive) a new portal room gets, with their original
	// times. 0 backfills nothing.
	MUCBackfill int `yaml:"muc_backfill"`
	// MaxFileBytes bounds a file the bridge downloads from an XMPP link
	// (XEP-0066/XEP-0363) to upload it to Matrix; larger files, and all
	// files when it is 0, stay links.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// FetchPrivateURLs lets the bridge download XMPP links that resolve
	// to loopback, private or link-local addresses. Off by default: an
	// XMPP user must not make the bridge fetch from its own network.
	FetchPrivateURLs bool `yaml:"fetch_private_urls"`
	// MaxAvatarBytes bounds an avatar image either way (XEP-0084 data
	// and vCard photos fetched from XMPP, Matrix avatars served to
	// XMPP); larger ones are left out. Its base64 must fit in
	// MaxStanzaBytes.
	MaxAvatarBytes int `yaml:"max_avatar_bytes"`
	// XHTMLIM adds an XHTML-IM payload (XEP-0071) to Matrix messages with
	// formatting, for the XMPP clients that still render it.
	XHTMLIM bool `yaml:"xhtml_im"`
}

// DefaultConfig returns the configuration a section gets for every key
// it leaves out.
func DefaultConfig() Config {
	return Config{
		Server:            "127.0.0.1:5347",
		UserTemplate:      "@_xmpp_{name}:{server}",
		MaxStanzaBytes:    component.DefaultMaxStanzaBytes,
		ReconnectMaxDelay: component.DefaultReconnectMax,
		MaxJoinOccupants:  50,
		HistoryOnJoin:     20,
		AliasTemplate:     "#_xmpp_{room}_{service}:{server}",
		MUCBackfill:       50,
		MaxFileBytes:      20 << 20,
		MaxAvatarBytes:    maxAvatarBytes,
		XHTMLIM:           true,
	}
}

// maxMUCBackfill bounds Config.MUCBackfill.
const maxMUCBackfill = 1000

// Validate checks what decoding cannot.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Server); err != nil {
		errs = append(errs, fmt.Errorf("server %q: want host:port: %w", c.Server, err))
	}
	if c.Domain == "" {
		errs = append(errs, errors.New("domain is required (the component's domain on the XMPP server)"))
	} else if d, err := jid.Parse(c.Domain); err != nil || d.String() != d.Domainpart() {
		errs = append(errs, fmt.Errorf("domain %q is not a bare domain JID", c.Domain))
	}
	if c.Secret == "" {
		errs = append(errs, errors.New("secret is required (the server's component_secret)"))
	}
	if c.MaxStanzaBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_stanza_bytes %d: at least 1024", c.MaxStanzaBytes))
	}
	if c.ReconnectMaxDelay < time.Second {
		errs = append(errs, fmt.Errorf("reconnect_max_delay %v: at least 1s", c.ReconnectMaxDelay))
	}
	if c.MaxJoinOccupants < 0 {
		errs = append(errs, fmt.Errorf("max_join_occupants %d: at least 0", c.MaxJoinOccupants))
	}
	if c.HistoryOnJoin < 0 || c.HistoryOnJoin > MaxHistoryStanzas {
		errs = append(errs, fmt.Errorf("history_on_join %d: from 0 to %d", c.HistoryOnJoin, MaxHistoryStanzas))
	}
	if c.MUCBackfill < 0 || c.MUCBackfill > maxMUCBackfill {
		errs = append(errs, fmt.Errorf("muc_backfill %d: between 0 and %d", c.MUCBackfill, maxMUCBackfill))
	}
	if need := base64.StdEncoding.EncodedLen(c.MaxAvatarBytes) + 4096; c.MaxAvatarBytes < 1024 || need > c.MaxStanzaBytes {
		errs = append(errs, fmt.Errorf("max_avatar_bytes %d: at least 1024, and its base64 with room for the stanza (%d bytes) within max_stanza_bytes %d",
			c.MaxAvatarBytes, need, c.MaxStanzaBytes))
	}
	if c.MaxFileBytes < 0 {
		errs = append(errs, fmt.Errorf("max_file_bytes %d: at least 0", c.MaxFileBytes))
	}
	return errors.Join(errs...)
}

// LogValue implements slog.LogValuer: the configuration without its secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("server", c.Server),
		slog.String("domain", c.Domain),
		slog.Bool("secret_set", c.Secret != ""),
		slog.String("user_template", c.UserTemplate),
		slog.Int("max_stanza_bytes", c.MaxStanzaBytes),
		slog.Duration("reconnect_max_delay", c.ReconnectMaxDelay),
		slog.Int("max_join_occupants", c.MaxJoinOccupants),
		slog.Int("history_on_join", c.HistoryOnJoin),
		slog.String("alias_template", c.AliasTemplate),
		slog.Int("muc_backfill", c.MUCBackfill),
		slog.Int64("max_file_bytes", c.MaxFileBytes),
		slog.Int("max_avatar_bytes", c.MaxAvatarBytes),
		slog.Bool("fetch_private_urls", c.FetchPrivateURLs),
		slog.Bool("xhtml_im", c.XHTMLIM),
	)
}

// String keeps the secret out of fmt output too.
func (c Config) String() string { return c.LogValue().String() }
