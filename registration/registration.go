// Package registration reads, generates and writes the appservice
// registration file that a homeserver (Synapse, Dendrite, Conduit) loads to
// delegate namespaces to Causeway.
//
// Loading is lenient about keys other tools add and strict about the keys
// Causeway needs: a missing or empty required key is an error naming it.
// Generation keeps existing tokens, so regenerating after a configuration
// change never invalidates the homeserver's copy of the tokens.
package registration

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Registration is the appservice registration document.
type Registration struct {
	ID              string     `yaml:"id"`
	URL             string     `yaml:"url"`
	ASToken         string     `yaml:"as_token"`
	HSToken         string     `yaml:"hs_token"`
	SenderLocalpart string     `yaml:"sender_localpart"`
	RateLimited     *bool      `yaml:"rate_limited,omitempty"`
	Namespaces      Namespaces `yaml:"namespaces"`
	Protocols       []string   `yaml:"protocols,omitempty"`
	// ReceiveEphemeral asks the homeserver to push typing, receipts and
	// presence (spec v1.13); PushEphemeralMSC2409 is the unstable key older
	// homeservers read.
	ReceiveEphemeral     bool `yaml:"receive_ephemeral"`
	PushEphemeralMSC2409 bool `yaml:"de.sorunome.msc2409.push_ephemeral"`
}

// Namespaces are the user, alias and room ID regexes claimed by the appservice.
type Namespaces struct {
	Users   []Namespace `yaml:"users"`
	Aliases []Namespace `yaml:"aliases"`
	Rooms   []Namespace `yaml:"rooms"`
}

// Namespace is one claimed regex.
type Namespace struct {
	Exclusive bool   `yaml:"exclusive"`
	Regex     string `yaml:"regex"`
}

// Load reads a registration file.
func Load(path string) (*Registration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read registration: %w", err)
	}
	r, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("registration %s: %w", path, err)
	}
	return r, nil
}

// Parse decodes a registration document and checks its required keys.
// Unknown keys are ignored.
func Parse(data []byte) (*Registration, error) {
	var r Registration
	if err := yaml.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks the keys Causeway relies on.
func (r *Registration) Validate() error {
	var errs []error
	req := []struct{ key, val string }{
		{"id", r.ID}, {"url", r.URL}, {"as_token", r.ASToken}, {"hs_token", r.HSToken},
		{"sender_localpart", r.SenderLocalpart},
	}
	for _, k := range req {
		if k.val == "" {
			errs = append(errs, fmt.Errorf("required key %q is missing or empty", k.key))
		}
	}
	if r.ASToken != "" && r.ASToken == r.HSToken {
		errs = append(errs, errors.New("as_token and hs_token must differ"))
	}
	check := func(kind string, ns []Namespace) {
		for i, n := range ns {
			if n.Regex == "" {
				errs = append(errs, fmt.Errorf("namespaces.%s[%d].regex is missing", kind, i))
				continue
			}
			if _, err := regexp.Compile(n.Regex); err != nil {
				errs = append(errs, fmt.Errorf("namespaces.%s[%d].regex: %w", kind, i, err))
			}
		}
	}
	check("users", r.Namespaces.Users)
	check("aliases", r.Namespaces.Aliases)
	check("rooms", r.Namespaces.Rooms)
	return errors.Join(errs...)
}

// Spec is what the generator derives a registration from.
type Spec struct {
	ID              string
	URL             string
	SenderLocalpart string
	ServerName      string
	// UserRegexes and AliasRegexes are anchored regexes claimed exclusively,
	// usually produced by each enabled module's puppet namespaces.
	UserRegexes  []string
	AliasRegexes []string
	Protocols    []string
}

// Generate builds a registration from spec. Tokens are taken from existing
// when it is non-nil (so regenerating keeps them) and made fresh otherwise.
func Generate(spec Spec, existing *Registration) (*Registration, error) {
	f := false
	r := &Registration{
		ID:                   spec.ID,
		URL:                  spec.URL,
		SenderLocalpart:      spec.SenderLocalpart,
		RateLimited:          &f,
		Protocols:            spec.Protocols,
		ReceiveEphemeral:     true,
		PushEphemeralMSC2409: true,
	}
	if existing != nil && existing.ASToken != "" && existing.HSToken != "" {
		r.ASToken, r.HSToken = existing.ASToken, existing.HSToken
	} else {
		var err error
		if r.ASToken, err = NewToken(); err != nil {
			return nil, err
		}
		if r.HSToken, err = NewToken(); err != nil {
			return nil, err
		}
	}
	bot := "^@" + regexp.QuoteMeta(spec.SenderLocalpart+":"+spec.ServerName) + "$"
	r.Namespaces.Users = append(r.Namespaces.Users, Namespace{Exclusive: true, Regex: bot})
	for _, re := range spec.UserRegexes {
		r.Namespaces.Users = append(r.Namespaces.Users, Namespace{Exclusive: true, Regex: re})
	}
	for _, re := range spec.AliasRegexes {
		r.Namespaces.Aliases = append(r.Namespaces.Aliases, Namespace{Exclusive: true, Regex: re})
	}
	if r.Namespaces.Aliases == nil {
		r.Namespaces.Aliases = []Namespace{}
	}
	r.Namespaces.Rooms = []Namespace{}
	return r, r.Validate()
}

// NewToken returns a 256-bit random token, hex encoded.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Marshal encodes the registration as YAML with a short header comment.
func (r *Registration) Marshal() ([]byte, error) {
	body, err := yaml.Marshal(r)
	if err != nil {
		return nil, err
	}
	head := "# Appservice registration generated by `causeway generate-registration`.\n" +
		"# Give this file to the homeserver (Synapse: app_service_config_files;\n" +
		"# Dendrite: app_service_api.config_files; Conduit: the register-appservice admin command).\n" +
		"# It contains secrets: keep it readable only by the homeserver and the bridge.\n"
	return append([]byte(head), body...), nil
}

// Save writes the registration to path with 0600 permissions, atomically.
func (r *Registration) Save(path string) error {
	data, err := r.Marshal()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".registration-*")
	if err != nil {
		return fmt.Errorf("write registration: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write registration: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write registration: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write registration: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write registration: %w", err)
	}
	return nil
}
