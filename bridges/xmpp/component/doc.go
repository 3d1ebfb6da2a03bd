// Package component is the XMPP bridge's XEP-0114 (Jabber Component
// Protocol) connection to an XMPP server, built on mellium.im/xmpp.
//
// [Conn.Run] keeps one component session up: it connects, authenticates
// with the shared secret, serves incoming stanzas, and after any stream
// error, lost connection or server restart reconnects with jittered
// exponential backoff until its context ends. A keepalive ping to its own
// domain through the server finds hung servers and half-open connections.
//
// Remote input is isolated. mellium ends the whole session when a handler
// returns an error, so the handler here never does: every stanza is read
// with a size limit and its JIDs are parsed here, a bad stanza gets an XMPP
// error reply (or, when it cannot be answered, is logged and dropped), and
// panics are recovered. Every stanza the package writes carries a `from`
// on the component's domain, and IQs it does not handle get an error reply
// from the addressed JID (mellium's default reply has no `from`).
//
// The component answers XEP-0199 pings and XEP-0030 disco#info/#items per
// JID: the domain itself is a gateway and a conference service whose items
// are the public Matrix rooms; the JID of a Matrix room (package address)
// answers as a MUC when [Rooms] finds the room, computed off the receive
// goroutine because it asks the homeserver; other JIDs answer
// item-not-found. Messages and presences are not bridged yet (see
// docs/xmpp.md).
//
// Queries the bridge makes (disco, MAM, vCards) go through [Conn.SendIQ],
// which waits for the answer matched by id, off the receive goroutine.
//
// What the bridge sends to XMPP goes through [Conn.Enqueue]: a durable
// [Queue] in the module's KV, sent in order on every session and deleted
// once the server acknowledged it (at least once), because XMPP servers
// bounce stanzas to a disconnected component instead of queueing them.
package component
