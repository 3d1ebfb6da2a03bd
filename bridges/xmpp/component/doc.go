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
// JID: the domain itself is a gateway and a conference service; other JIDs
// on the domain do not exist yet and answer item-not-found. Messages and
// presences are not bridged yet (see docs/xmpp.md).
package component
