// Package config loads Causeway's single YAML configuration file.
//
// Decoding is strict: an unknown key anywhere in the file is an error that
// names the key and its line. Values may reference environment variables as
// ${NAME} (or ${NAME:-default}) so that secrets need not be written into the
// file. Each bridge module's section under "bridges" is kept as a raw YAML
// node and decoded later by that module with [Section.Decode], with the same
// strictness and line numbers from the original file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	Homeserver Homeserver         `yaml:"homeserver"`
	Appservice Appservice         `yaml:"appservice"`
	Database   Database           `yaml:"database"`
	Logging    Logging            `yaml:"logging"`
	Bridges    map[string]Section `yaml:"bridges"`
}

// Homeserver says where the homeserver is and what it is called.
type Homeserver struct {
	// URL is the client-server API base URL the bridge calls.
	URL string `yaml:"url"`
	// PublicURL is the homeserver's public base URL, where people outside
	// (IRC users, browsers) open media links:
	// PublicURL/_matrix/media/v3/download/server/id. Default: URL.
	PublicURL string `yaml:"public_url"`
	// ServerName is the homeserver's server name, the part after ':' in user IDs.
	ServerName string `yaml:"server_name"`
	// EphemeralSync turns on the fallback that /syncs as the bot for typing,
	// receipts and presence, for homeservers (Dendrite) that do not push
	// ephemeral events to appservices.
	EphemeralSync bool `yaml:"ephemeral_sync"`
}

// Appservice configures the appservice side: identity and HTTP listener.
type Appservice struct {
	// ID is the registration ID.
	ID string `yaml:"id"`
	// Address is the host:port the transaction API listens on, or
	// "unix:PATH" for a Unix socket.
	Address string `yaml:"address"`
	// URL is how the homeserver reaches Address (written into the
	// registration): http(s)://… or, for a Unix socket, unix://PATH.
	URL string `yaml:"url"`
	// BotLocalpart is the localpart of the bridge bot user.
	BotLocalpart string `yaml:"bot_localpart"`
	// BotDisplayname is the bot's display name.
	BotDisplayname string `yaml:"bot_displayname"`
	// Registration is the path of the registration file holding the tokens.
	Registration string `yaml:"registration"`
	// MaxBodyBytes caps the size of a transaction body.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Admins are Matrix user IDs allowed to run admin commands.
	Admins []string `yaml:"admins"`
	// AckBody is the body of a stored transaction's 200 answer: auto (no
	// body for Dendrite, "{}" for other homeservers), json or empty.
	AckBody string `yaml:"ack_body"`
}

// Database selects the store backend.
type Database struct {
	// URL is "sqlite:PATH" (the default, embedded, no server) or a
	// "postgres://" URL.
	URL string `yaml:"url"`
	// InboxRetention is how long processed events are kept for deduplication.
	InboxRetention time.Duration `yaml:"inbox_retention"`
	// OutboxRetention is how long messages already sent to (or given up
	// on by) the homeserver are kept, so the same message queued again
	// (e.g. replayed after a restart) is recognised and not sent twice.
	OutboxRetention time.Duration `yaml:"outbox_retention"`
}

// Logging configures log/slog output.
type Logging struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Section is one bridge module's configuration section.
type Section struct {
	// Enabled turns the module on. Defaults to true when the section exists.
	Enabled bool
	node    *yaml.Node
	file    string
}

// UnmarshalYAML keeps the raw node for the module to decode later.
func (s *Section) UnmarshalYAML(n *yaml.Node) error {
	s.Enabled = true
	s.node = n
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		s.node = nil
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a bridge section must be a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "enabled" {
			var b bool
			if err := n.Content[i+1].Decode(&b); err != nil {
				return fmt.Errorf("line %d: enabled: %w", n.Content[i+1].Line, err)
			}
			s.Enabled = b
		}
	}
	return nil
}

// Decode decodes the section (without its "enabled" key) into out, strictly:
// unknown keys are errors naming the key and its line in the original file.
// Keys the section leaves out keep the values out already has, so a module
// passes its configuration filled with its defaults.
func (s Section) Decode(out any) error {
	if s.node == nil {
		return nil
	}
	n := *s.node
	n.Content = nil
	for i := 0; i+1 < len(s.node.Content); i += 2 {
		if s.node.Content[i].Value == "enabled" {
			continue
		}
		n.Content = append(n.Content, s.node.Content[i], s.node.Content[i+1])
	}
	return decodeNodeStrict(&n, out, s.file)
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path, os.LookupEnv)
}

// Parse decodes configuration from data. name is used in error messages;
// lookupEnv resolves ${NAME} references.
func Parse(data []byte, name string, lookupEnv func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty configuration", name)
	}
	if err := expandEnv(&root, lookupEnv); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Keys absent from the file keep the values of Default.
	c := Default()
	if err := decodeNodeStrict(root.Content[0], &c, name); err != nil {
		return nil, err
	}
	// Sections were decoded from a re-encoded copy; point them at the
	// original nodes so module errors carry the file's real line numbers.
	orig := mappingValue(root.Content[0], "bridges")
	for k, s := range c.Bridges {
		if s.node != nil {
			if o := mappingValue(orig, k); o != nil {
				s.node = o
			}
		}
		if s.node == nil {
			s.Enabled = true // an empty section ("irc:") enables the module with defaults
		}
		s.file = name
		c.Bridges[k] = s
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}

var localpartRE = regexp.MustCompile(`^[a-z0-9._=/-]+$`)

// Validate checks values that decoding cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.Homeserver.URL == "" {
		errs = append(errs, errors.New("homeserver.url is required"))
	} else if u, err := url.Parse(c.Homeserver.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("homeserver.url %q must be an http(s) URL", c.Homeserver.URL))
	}
	if u, err := url.Parse(c.Homeserver.PublicURL); c.Homeserver.PublicURL != c.Homeserver.URL &&
		(err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, fmt.Errorf("homeserver.public_url %q must be an http(s) URL", c.Homeserver.PublicURL))
	}
	if c.Homeserver.ServerName == "" {
		errs = append(errs, errors.New("homeserver.server_name is required"))
	}
	if path, ok := strings.CutPrefix(c.Appservice.URL, "unix://"); ok {
		if path == "" {
			errs = append(errs, fmt.Errorf("appservice.url %q names no socket path", c.Appservice.URL))
		}
	} else if u, err := url.Parse(c.Appservice.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("appservice.url %q must be an http(s) URL or unix://PATH", c.Appservice.URL))
	}
	if c.Appservice.Address == "unix:" {
		errs = append(errs, errors.New("appservice.address \"unix:\" names no socket path"))
	}
	if !localpartRE.MatchString(c.Appservice.BotLocalpart) {
		errs = append(errs, fmt.Errorf("appservice.bot_localpart %q may only contain a-z 0-9 . _ = - /", c.Appservice.BotLocalpart))
	}
	if c.Appservice.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("appservice.max_body_bytes %d is too small", c.Appservice.MaxBodyBytes))
	}
	if c.Database.InboxRetention < 0 {
		errs = append(errs, fmt.Errorf("database.inbox_retention %s must be positive", c.Database.InboxRetention))
	}
	if c.Database.OutboxRetention < 0 {
		errs = append(errs, fmt.Errorf("database.outbox_retention %s must be positive", c.Database.OutboxRetention))
	}
	switch c.Appservice.AckBody {
	case "", "auto", "json", "empty":
	default:
		errs = append(errs, fmt.Errorf("appservice.ack_body %q must be auto, json or empty", c.Appservice.AckBody))
	}
	for _, a := range c.Appservice.Admins {
		if !strings.HasPrefix(a, "@") || !strings.Contains(a, ":") {
			errs = append(errs, fmt.Errorf("appservice.admins: %q is not a Matrix user ID", a))
		}
	}
	switch c.Logging.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("logging.level %q must be debug, info, warn or error", c.Logging.Level))
	}
	switch c.Logging.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("logging.format %q must be text or json", c.Logging.Format))
	}
	return errors.Join(errs...)
}

// BotUserID returns the bot's full Matrix user ID.
func (c *Config) BotUserID() string {
	return "@" + c.Appservice.BotLocalpart + ":" + c.Homeserver.ServerName
}

// decodeNodeStrict decodes n into out rejecting unknown keys. yaml.v3 only
// offers KnownFields on a Decoder, so the node is re-encoded and decoded; line
// numbers in errors are mapped back to the original node's lines.
func decodeNodeStrict(n *yaml.Node, out any, file string) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(n); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	_ = enc.Close()
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	err := dec.Decode(out)
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %w", file, err)
	}
	// Re-encoded line numbers do not match the file; find each offending
	// key in the original node to report its real line.
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		msgs = append(msgs, remapLine(m, n))
	}
	return fmt.Errorf("%s: %s", file, strings.Join(msgs, "; "))
}

var fieldNotFound = regexp.MustCompile(`^line \d+: field (\S+) not found in type (.+)$`)
var lineMsg = regexp.MustCompile(`^line \d+: (.*)$`)

func remapLine(msg string, n *yaml.Node) string {
	if m := fieldNotFound.FindStringSubmatch(msg); m != nil {
		if k := findKey(n, m[1]); k != nil {
			return fmt.Sprintf("line %d: unknown key %q", k.Line, m[1])
		}
		return fmt.Sprintf("unknown key %q", m[1])
	}
	if m := lineMsg.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return msg
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func findKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i]
			}
		}
	}
	for _, c := range n.Content {
		if k := findKey(c, key); k != nil {
			return k
		}
	}
	return nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${NAME} and ${NAME:-default} in every scalar value.
func expandEnv(n *yaml.Node, lookup func(string) (string, bool)) error {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		var missing []string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v, ok := lookup(m[1]); ok {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			missing = append(missing, m[1])
			return ""
		})
		if len(missing) > 0 {
			return fmt.Errorf("line %d: environment variable %s is not set", n.Line, strings.Join(missing, ", "))
		}
		if n.Tag == "" || n.Tag == "!!str" || n.Style == 0 {
			n.Tag = "" // let the decoder resolve the expanded value's type
		}
	}
	for _, c := range n.Content {
		if err := expandEnv(c, lookup); err != nil {
			return err
		}
	}
	return nil
}
