package appservice_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/matrix"
)

// printer is a minimal Handler: it passes events on to a channel and knows
// no users or aliases.
type printer struct{ events chan *matrix.Event }

func (p printer) HandleEvent(_ context.Context, evt *matrix.Event) error {
	p.events <- evt
	return nil
}
func (printer) HandleEphemeral(context.Context, *matrix.Event) {}
func (printer) QueryUser(context.Context, matrix.UserID) (bool, error) {
	return false, nil
}
func (printer) QueryAlias(context.Context, matrix.RoomAlias) (bool, error) {
	return false, nil
}

// A Server is built from the registration's hs_token, a durable inbox (the
// store) and a handler; Start resumes pending events and serves; Stop drains.
func Example() {
	h := printer{events: make(chan *matrix.Event, 1)}
	s, err := appservice.New(appservice.Options{
		HSToken: "hs-token",
		Inbox:   newFakeInbox(), // *store.Store in production
		Handler: h,
		Logger:  discardLogger(),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		panic(err)
	}

	// The homeserver pushes a transaction.
	req := httptest.NewRequest(http.MethodPut, "/_matrix/app/v1/transactions/1", strings.NewReader(
		`{"events":[{"type":"m.room.message","event_id":"$ev1","room_id":"!room:example.org","content":{"body":"hi"}}]}`))
	req.Header.Set("Authorization", "Bearer hs-token")
	rec := httptest.NewRecorder()
	s.HTTPHandler().ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))

	evt := <-h.events
	fmt.Println(evt.RoomID, evt.ID, evt.Type)
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Stop(stopCtx); err != nil {
		panic(err)
	}
	// Output:
	// 200 {}
	// !room:example.org $ev1 m.room.message
}
