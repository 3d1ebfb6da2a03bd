package netstate_test

import (
	"fmt"

	"github.com/causewaybridge/causeway/bridges/irc/netstate"
)

func Example() {
	n := netstate.New(netstate.Options{})
	_ = n.ApplyISupport("PREFIX=(qaohv)~&@%+", "CASEMAPPING=rfc1459")

	// 353/366 after the bridge joined #go.
	n.Names("#go", "@alice!a@host.example +bob!b@host.example")
	n.EndNames("#go")

	changes, _ := n.Mode("#go", "alice", "+o-v", []string{"bob", "bob"})
	for _, c := range changes {
		fmt.Println(c.Kind, c.Nick, string(c.Mode))
	}
	m, _ := n.Member("#GO", "BOB")
	fmt.Println(m.Nick, m.Prefix, netstate.PowerLevel(m.Modes, nil))

	for _, c := range n.Quit("alice", "hub.example leaf.example") {
		fmt.Println(c.Kind, c.Nick, c.Channel, netstate.IsNetsplitReason(c.Text))
	}
	// Output:
	// prefix_added bob o
	// prefix_removed bob v
	// bob @ 50
	// quit alice #go true
}
