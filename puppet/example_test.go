package puppet_test

import (
	"fmt"

	"github.com/causewaybridge/causeway/puppet"
)

func Example() {
	users, err := puppet.NewUsers("@irc_{network}_{nick}:{server}", "example.org")
	if err != nil {
		panic(err)
	}
	id, err := users.Format(puppet.Values{"network": "Libera_Chat", "nick": "Al_ice"})
	if err != nil {
		panic(err)
	}
	fmt.Println(id)

	v, err := users.Parse(id)
	if err != nil {
		panic(err)
	}
	fmt.Println(v["network"], v["nick"])
	fmt.Println(users.Owns("@irc_libera_=61lice:example.org")) // "a" needs no escape: not canonical
	fmt.Println(users.ClaimRegex())

	aliases, err := puppet.NewAliases("#irc_{network}_{channel}:{server}", "example.org")
	if err != nil {
		panic(err)
	}
	libera, err := aliases.Bind("network", "libera")
	if err != nil {
		panic(err)
	}
	alias, err := libera.Format(puppet.Values{"channel": "#go-nuts"})
	if err != nil {
		panic(err)
	}
	fmt.Println(alias)
	// Output:
	// @irc_=4cibera=5f=43hat_=41l_ice:example.org
	// Libera_Chat Al_ice
	// false
	// ^@irc_[^:]*:example\.org$
	// #irc_libera_#go-nuts:example.org
}

func ExampleNewTemplate() {
	_, err := puppet.NewTemplate("@irc_{network}{nick}:{server}")
	fmt.Println(err)
	// Output:
	// bad puppet template "@irc_{network}{nick}:{server}": placeholder {network} is directly followed by another placeholder; put a literal separator such as _ between them
}
