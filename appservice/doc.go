// Package appservice implements the homeserver-facing side of a Matrix
// application service: the Appservice HTTP API (transactions, user and alias
// queries, ping and third-party lookups) and a durable inbox that turns
// transactions into ordered, per-room event processing.
//
// # Guarantees of the inbox
//
// Durability. When PUT /_matrix/app/v1/transactions/{txnId} answers 200, every
// event of the transaction's "events" array has been written to the [Inbox]
// (the store). If the store fails, the answer is 500 and the homeserver
// retries the same transaction later, so nothing is acknowledged that is not
// stored. Ephemeral events (typing, receipts, presence) are NOT durable: they
// are handed to [Handler.HandleEphemeral] after the answer is decided and are
// lost on a crash, as they have no lasting meaning.
//
// Deduplication. A redelivered transaction ID, and an event ID that already
// arrived in another transaction, are not processed again: the store returns
// only the events it has not seen before (homeservers retry a failed
// transaction with the same ID and possibly more events appended).
//
// Ordering. Events are processed from the inbox by per-room workers. Within a
// room, events reach [Handler.HandleEvent] strictly one at a time in the order
// the store assigned (its Seq, which is the order of arrival). Rooms never wait
// for each other: a slow or stuck room occupies one worker while the others
// keep going. The number of concurrently active room workers is bounded
// (Options.MaxWorkers) and a worker goroutine exits when there is nothing left
// to do, so thousands of quiet rooms cost no goroutines. At most
// Options.MaxQueuedEvents events are held in memory; beyond that, events stay
// in the store and are loaded back as the queue drains.
//
// At-least-once processing. An event is marked done in the store after the
// handler returned (marks are batched). If the process crashes or is killed
// while a handler runs, or before the mark reached the store, the event is
// delivered again, in order, when a new [Server] starts. Handlers MUST
// therefore be idempotent: handling the same event twice must have the same
// effect as handling it once (for example, send to the remote network with a
// key derived from the Matrix event ID, or check a message-link table first).
//
// Failures. A handler error is retried with exponential backoff
// (Options.Retry); after the last attempt the event is logged at error level
// with its event ID and marked done, so one poison event cannot block its room
// forever. A handler panic counts as an error.
//
// Shutdown. [Server.Stop] stops accepting transactions, waits for in-flight
// HTTP requests, lets each worker finish the event it is handling and leaves
// every other event pending in the store for the next start.
package appservice
