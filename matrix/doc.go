// Package matrix holds the small set of Matrix types shared by every layer of
// Causeway: identifiers (user, room and event IDs, aliases) and the event
// envelope delivered by the homeserver in appservice transactions.
//
// It has no dependencies beyond the standard library so that every other
// package can import it.
package matrix
