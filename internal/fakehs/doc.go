// Package fakehs is the shared fake Matrix homeserver of Causeway's unit
// tests: an in-process httptest server speaking the part of the
// client-server API that the core and the modules use (see [Homeserver]),
// keeping what it was told and recording every request. It imports
// nothing of Causeway but the matrix types, so that every package's tests
// can use it, the core's included (internal/bridgetest builds its fake
// module host on it). Integration tests use a real Dendrite instead
// (internal/integration).
package fakehs
