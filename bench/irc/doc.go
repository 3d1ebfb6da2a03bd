// Package ircbench holds the load generators that measure Causeway's IRC
// module against real servers (Ergo and Dendrite): memory per puppeted
// connection, IRC→Matrix throughput, CPU and order, Matrix→IRC latency and
// a reconnect storm. The measurements run as tests behind the benchirc
// build tag (scripts/bench-irc.sh runs them); this file's package holds the
// arithmetic they share: process figures from /proc, medians,
// percentiles and the count of messages out of place.
package ircbench
