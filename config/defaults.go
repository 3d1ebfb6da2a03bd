package config

import (
	"strings"
	"time"
)

// Defaults used when a key is absent. They are the values example-config.yaml
// shows; config/defaults_test.go keeps the two equal.
const (
	DefaultAddress         = "127.0.0.1:29300"
	DefaultBotLocalpart    = "causeway"
	DefaultDatabaseURL     = "sqlite:causeway.db"
	DefaultMaxBodyBytes    = 32 << 20
	DefaultInboxRetention  = 7 * 24 * time.Hour
	DefaultOutboxRetention = 7 * 24 * time.Hour
	DefaultID              = "causeway"
	DefaultRegistration    = "registration.yaml"
	DefaultAckBody         = "auto"
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
)

// Default returns the configuration an empty file would give, before the
// defaults derived from other keys (appservice.url from appservice.address,
// homeserver.public_url from homeserver.url) are filled in. [Parse] decodes the file on top of it, so a key the file
// leaves out keeps its default and a key it sets, even to a zero value, is
// what the file says (then, for keys where zero means nothing, the default
// again: see applyDefaults).
func Default() Config {
	return Config{
		Appservice: Appservice{
			ID:           DefaultID,
			Address:      DefaultAddress,
			BotLocalpart: DefaultBotLocalpart,
			Registration: DefaultRegistration,
			MaxBodyBytes: DefaultMaxBodyBytes,
			AckBody:      DefaultAckBody,
		},
		Database: Database{
			URL:             DefaultDatabaseURL,
			InboxRetention:  DefaultInboxRetention,
			OutboxRetention: DefaultOutboxRetention,
		},
		Logging: Logging{
			Level:  DefaultLogLevel,
			Format: DefaultLogFormat,
		},
	}
}

// applyDefaults fills the defaults derived from other keys, and gives keys
// set to an empty or zero value, which would mean nothing for them, their
// default as if they were absent.
func (c *Config) applyDefaults() {
	d := Default()
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Homeserver.PublicURL, c.Homeserver.URL)
	def(&c.Appservice.ID, d.Appservice.ID)
	def(&c.Appservice.Address, d.Appservice.Address)
	if c.Appservice.URL == "" {
		if path, ok := strings.CutPrefix(c.Appservice.Address, "unix:"); ok {
			c.Appservice.URL = "unix://" + path
		} else {
			c.Appservice.URL = "http://" + c.Appservice.Address
		}
	}
	def(&c.Appservice.BotLocalpart, d.Appservice.BotLocalpart)
	def(&c.Appservice.Registration, d.Appservice.Registration)
	if c.Appservice.MaxBodyBytes == 0 {
		c.Appservice.MaxBodyBytes = d.Appservice.MaxBodyBytes
	}
	def(&c.Appservice.AckBody, d.Appservice.AckBody)
	def(&c.Database.URL, d.Database.URL)
	if c.Database.InboxRetention == 0 {
		c.Database.InboxRetention = d.Database.InboxRetention
	}
	if c.Database.OutboxRetention == 0 {
		c.Database.OutboxRetention = d.Database.OutboxRetention
	}
	def(&c.Logging.Level, d.Logging.Level)
	def(&c.Logging.Format, d.Logging.Format)
}
