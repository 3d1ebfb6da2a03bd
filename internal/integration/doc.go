// Package integration is test-only support for Causeway's integration tests:
// it starts real servers and talks to them like real clients do. Nothing in
// the causeway binary may import it.
//
// [StartDendrite] runs a private Dendrite homeserver from the binary named by
// CAUSEWAY_DENDRITE_BIN in t.TempDir() on a free 127.0.0.1 port, on SQLite or
// on a fresh PostgreSQL database, optionally with appservice registrations.
// [Client] is a minimal Matrix client-server API client (register, rooms,
// messages, profiles, aliases, /sync with waiting helpers). [NewPostgresDB]
// creates a throwaway database on CAUSEWAY_TEST_POSTGRES_URL.
//
// XMPP servers: [StartProsody] (CAUSEWAY_PROSODY_BIN) and [StartEjabberd]
// (CAUSEWAY_EJABBERDCTL_BIN) run private servers with the same names, users
// and component, both behind the [XMPPServer] interface, so a test written
// once runs on both ([StartXMPPServer], [XMPPServerNames]); [XMPPClient] is
// a real client on mellium.
//
// The environment comes from `bash scripts/stack.sh env`; scripts/test.sh
// sets it. Without it tests skip with a message, except when CI=true, where a
// missing server is a failure so that integration tests can never silently
// skip in CI.
//
// Integration tests live in files tagged `//go:build integration` and are
// named TestIntegration*:
//
//	go test -race -tags integration -run Integration ./...
package integration
