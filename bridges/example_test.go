package bridges_test

import (
	"context"
	"fmt"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
)

// shout is a tiny module: it claims @shout_*:server and answers alias
// queries for #shout_*:server. Real modules keep a bridges.Host from Start
// and act through its intents, outbox and store (see bridges/loopback).
type shout struct{ server string }

func (s *shout) Info() bridges.Info {
	return bridges.Info{ID: "shout", Description: "example", New: func() bridges.Module { return &shout{} }}
}
func (s *shout) Configure(env bridges.Env, sec bridges.Decoder) error {
	s.server = env.ServerName
	return sec.Decode(&struct{}{})
}
func (s *shout) Namespaces() bridges.Namespaces {
	return bridges.Namespaces{UserRegexes: []string{`^@shout_.+:` + s.server + `$`}, Protocols: []string{"shout"}}
}
func (s *shout) Start(ctx context.Context, h bridges.Host) error { return nil }
func (s *shout) Stop(ctx context.Context) error                  { return nil }
func (s *shout) HandleMatrixEvent(ctx context.Context, evt *matrix.Event) error {
	return nil
}

// QueryAlias makes shout an AliasQuerier: the core detects it.
func (s *shout) QueryAlias(ctx context.Context, alias matrix.RoomAlias) (bool, error) {
	return alias.Localpart() == "shout_lobby", nil
}

type noSection struct{}

func (noSection) Decode(any) error { return nil }

// Example shows a module's life as the core drives it: registration,
// configuration, namespaces, and capability detection.
func Example() {
	reg := bridges.NewRegistry()
	if err := reg.Add((&shout{}).Info()); err != nil {
		panic(err)
	}
	info, _ := reg.Get("shout")
	m := info.New()
	if err := m.Configure(bridges.Env{ServerName: "example.org"}, noSection{}); err != nil {
		panic(err)
	}
	fmt.Println("claims:", m.Namespaces().UserRegexes[0])
	if q, ok := m.(bridges.AliasQuerier); ok {
		found, _ := q.QueryAlias(context.Background(), "#shout_lobby:example.org")
		fmt.Println("alias queries supported; #shout_lobby exists:", found)
	}
	_, edits := m.(bridges.EditHandler)
	fmt.Println("edits supported:", edits)
	fmt.Println("duplicate registration:", reg.Add((&shout{}).Info()) != nil)
	// Output:
	// claims: ^@shout_.+:example.org$
	// alias queries supported; #shout_lobby exists: true
	// edits supported: false
	// duplicate registration: true
}
