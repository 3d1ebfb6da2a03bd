// Package kit is the shared Matrix-side machinery of bridge modules, one
// implementation of each thing every module needs:
//
//   - [CreatePortalRoom] creates a portal room as the bridge bot (name,
//     topic, avatar, alias, join rule and directory visibility from the
//     remote side, MSC2346 bridge info), publishes it in the appservice's
//     per-network room directory when it is public, and stores the portal.
//   - [SetRoomName], [SetRoomTopic] and [SetRoomAvatar] change a portal
//     room's state through the durable outbox, only when the value changed.
//   - [SyncProfile] sets a puppet's display name and avatar through the
//     outbox, only when they changed.
//   - [RoomQueue] runs work items in order per Matrix room, rooms
//     independently, on one goroutine per busy room.
//   - [PuppetRooms] is the bookkeeping of puppets' memberships in portal
//     rooms: where each puppet was last sent (in or out) until the outbox
//     carried it out, then the Matrix client's recorded membership.
//
// Sub-packages: kit/hold (the durable edit grace window), kit/notice
// (notices and failure reports worded the same for every module),
// kit/mark (backfill positions: the last remote message bridged into
// each portal, written lazily, for catch-ups after downtime) and
// kit/matrixhtml (HTML made from remote markup kept to the tags and
// attributes Matrix permits in formatted_body).
//
// Everything takes the module's [bridges.Host]: the kit keeps no state of
// its own beyond what it writes to the host's store (portals, and the last
// values it sent, under the "kit/" prefix of the module's [bridges.KV]).
// bridges/loopback is a walk-through of a module written with the kit.
package kit
