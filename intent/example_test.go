package intent_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/intent"
)

// Acting as a puppet: the intent registers the user, joins the room and
// sends with a deterministic transaction ID and the remote timestamp.
func Example() {
	// A stand-in homeserver that prints what the puppet sends.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/join/"):
			io.WriteString(w, `{"room_id":"!room:example.org"}`)
		case strings.Contains(r.URL.Path, "/send/"):
			q := r.URL.Query()
			fmt.Println(r.Method, r.URL.Path, q.Get("user_id"), q.Get("ts"))
			io.WriteString(w, `{"event_id":"$ev1"}`)
		default:
			io.WriteString(w, `{}`)
		}
	}))
	defer hs.Close()

	c, err := intent.New(intent.Options{
		HomeserverURL: hs.URL,
		ASToken:       "as_token from the registration",
		ServerName:    "example.org",
		BotLocalpart:  "causeway",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	alice := c.Intent("@irc_alice:example.org")
	id, err := alice.SendText(context.Background(), "!room:example.org", "hello from IRC", intent.SendOptions{
		TxnID:     "irc-msg-42",
		Timestamp: time.UnixMilli(1700000000000),
	})
	fmt.Println(id, err)
	// Output:
	// PUT /_matrix/client/v3/rooms/!room:example.org/send/m.room.message/irc-msg-42 @irc_alice:example.org 1700000000000
	// $ev1 <nil>
}
