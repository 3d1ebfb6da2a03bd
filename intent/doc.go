// Package intent is the homeserver client of the appservice: it acts as the
// bridge bot and as puppets through the client-server API with the
// appservice token and ?user_id= masquerading.
//
// A Client holds the connection settings, the retry policy and a bounded
// state cache (registered puppets, memberships, power levels, profiles) that
// avoids redundant requests and corrects itself when the homeserver
// disagrees. An Intent acts as one user. An Outbox delivers remote→Matrix
// operations durably and in per-room order. An EphemeralSyncer fetches
// typing, receipts and presence from /sync for homeservers that do not push
// them to appservices.
//
// Acting as a puppet:
//
//	c, err := intent.New(intent.Options{
//		HomeserverURL: "http://localhost:8008",
//		ASToken:       reg.ASToken,
//		ServerName:    "example.org",
//		BotLocalpart:  "causeway",
//		Logger:        logger,
//	})
//	if err != nil {
//		return err
//	}
//	alice := c.Intent("@irc_libera_alice:example.org")
//	if err := alice.SetDisplayname(ctx, "alice (IRC)"); err != nil {
//		return err
//	}
//	// Registers alice and joins her to the room (the bot invites her if
//	// needed), then sends with a transaction ID derived from the IRC
//	// message, at the time the IRC server stamped it.
//	evt, err := alice.SendText(ctx, roomID, "hello from IRC", intent.SendOptions{
//		TxnID:     "irc-" + msgID,
//		Timestamp: serverTime,
//	})
//
// Calls retry network errors, 5xx and 429 answers (honouring retry_after_ms)
// with capped exponential backoff, each on its own timer, so one room
// retrying never blocks another. Failures are *HTTPError values that match
// the Err* sentinels with errors.Is.
package intent
