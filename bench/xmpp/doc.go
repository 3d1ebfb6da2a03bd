// Package xmppbench holds the load generators that measure Causeway's XMPP
// module against real servers (Prosody and Dendrite): stanzas per second
// through the component each way against the same traffic sent directly,
// memory per XMPP occupant, and the cost of joining a big Matrix room from
// XMPP. The measurements run as tests behind the benchxmpp build tag
// (scripts/bench-xmpp.sh runs them); this package's plain files hold what
// they share: a bare XEP-0114 component that injects presences from many
// JIDs, and the shape of a result. Process figures, medians and the order
// check come from bench/irc.
package xmppbench
