//go:build integration

package xmpp

import (
	"context"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
)

// TestIntegrationXMPPEjabberdCoreFlows: the bridge on Dendrite with its
// component on ejabberd instead of Prosody, one bridge for both flows:
// TestIntegrationXMPPDiscoRooms's (rooms answer disco#info as MUCs, the
// component lists the public directory) and TestIntegrationXMPPMUCGateway's
// (join with occupants, self-presence and subject; text both ways with
// stanza-ids and reflection; nick conflicts; a second occupant; kicks;
// several resources; leaving).
func TestIntegrationXMPPEjabberdCoreFlows(t *testing.T) {
	t.Parallel()
	p := integration.StartEjabberd(t, integration.WithEjabberdUser("alice", "pw"), integration.WithEjabberdUser("bob", "pw"))
	s := startBridge(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	checkDiscoRooms(ctx, t, s, p)
	checkMUCGateway(ctx, t, s, p)
}
