package integration

import "testing"

// XMPPServer is a private XMPP server run for one test: [Prosody] or
// [Ejabberd]. Both serve users on [ProsodyHost], a MUC service with MAM on
// [ProsodyMUC] and an external component (XEP-0114), default
// [ProsodyComponent], so a test written against XMPPServer runs on both.
type XMPPServer interface {
	// Name is "prosody" or "ejabberd", for subtest names and messages.
	Name() string
	// C2SAddr is the client listener (no TLS, SASL PLAIN allowed).
	C2SAddr() string
	// ComponentAddr is the XEP-0114 component listener.
	ComponentAddr() string
	// ComponentDomain and ComponentSecret are the first component's.
	ComponentDomain() string
	ComponentSecret() string
	// Register creates user name@[ProsodyHost]. Prosody's works whether
	// or not the server runs; ejabberd's needs it running.
	Register(name, password string) error
	// Start starts the server again with the same config, data and ports;
	// Stop ends it with SIGTERM, Kill with SIGKILL.
	Start() error
	Stop() error
	Kill() error
	// Dir is the server's config and data directory, LogPath its log.
	Dir() string
	LogPath() string
}

// XMPPServerNames are the servers [StartXMPPServer] knows, in the order
// tests run them: Prosody first, ejabberd as the second implementation.
func XMPPServerNames() []string { return []string{"prosody", "ejabberd"} }

// StartXMPPServer starts the named server ([XMPPServerNames]) with the
// users (name, password) registered: [StartProsody] or [StartEjabberd]
// with their defaults.
func StartXMPPServer(t testing.TB, name string, users ...[2]string) XMPPServer {
	t.Helper()
	switch name {
	case "prosody":
		var opts []ProsodyOption
		for _, u := range users {
			opts = append(opts, WithProsodyUser(u[0], u[1]))
		}
		return StartProsody(t, opts...)
	case "ejabberd":
		var opts []EjabberdOption
		for _, u := range users {
			opts = append(opts, WithEjabberdUser(u[0], u[1]))
		}
		return StartEjabberd(t, opts...)
	}
	t.Fatalf("unknown XMPP server %q (known: %v)", name, XMPPServerNames())
	return nil
}

// Name returns "prosody".
func (p *Prosody) Name() string { return "prosody" }

// Name returns "ejabberd".
func (e *Ejabberd) Name() string { return "ejabberd" }
