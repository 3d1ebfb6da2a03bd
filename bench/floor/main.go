// Command floor is the floor program of the IRC→Matrix benchmark (issue 11
// §1): the least work a bridge can do per IRC message and still be a
// bridge. For each PRIVMSG it reads in one IRC channel it
//
//   - commits one SQLite transaction (WAL, synchronous=NORMAL, BEGIN
//     IMMEDIATE, modernc.org/sqlite: the bridge's store settings) holding
//     the message and the event ID of the message before it,
//   - sends the message with one PUT /send as an appservice user, over a
//     keep-alive connection, and
//   - receives the homeserver's transaction echoing the event on its own
//     appservice listener (TCP or a unix socket, registered with the
//     homeserver like the bridge's), checks the hs_token, decodes it and
//     acknowledges it the way the bridge does.
//
// The commit and the PUT run inline in one goroutine, one message after
// the other like one bridged room; a second goroutine reads the IRC socket
// ahead and answers PING (as the bridge's bot connection does), and the
// transaction handler answers in the HTTP server's goroutine. bench/irc's TestIRCBenchFloor runs it beside
// the bridge against the same Ergo and Dendrite and compares the two
// processes' CPU per message from /proc.
//
// It is driven on stdin, one command a line, and answers on stdout with
// "FLOOR ok ..." or "FLOOR err ...": "stats" (messages sent, events
// echoed, messages dropped after errors, PUTs sent again), "prof FILE" / "profstop" (CPU profile), "trace FILE" /
// "tracestop" (runtime trace), "quit".
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/causewaybridge/causeway/registration"
)

// reply prefixes every answer on stdout.
const reply = "FLOOR "

func main() {
	var o options
	flag.StringVar(&o.registration, "registration", "", "appservice registration file (its url is where to listen)")
	flag.StringVar(&o.homeserver, "homeserver", "", "homeserver client-server API base URL")
	flag.StringVar(&o.serverName, "server-name", "localhost", "homeserver's server name")
	flag.StringVar(&o.db, "db", "", "SQLite database file")
	flag.StringVar(&o.irc, "irc", "", "IRC server host:port")
	flag.StringVar(&o.channel, "channel", "#floor", "IRC channel whose messages are sent")
	flag.StringVar(&o.localpart, "localpart", "floor_sender", "localpart of the appservice user that sends")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		fmt.Printf("%serr %s\n", reply, strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

// options are the command line's.
type options struct {
	registration, homeserver, serverName, db, irc, channel, localpart string
}

func run(ctx context.Context, o options) error {
	reg, err := registration.Load(o.registration)
	if err != nil {
		return err
	}
	st, err := openStore(o.db)
	if err != nil {
		return err
	}
	defer st.close()
	ln, err := listenAS(reg.URL, reg.HSToken)
	if err != nil {
		return err
	}
	defer ln.close()
	mx := newSender(o.homeserver, reg.ASToken, "@"+o.localpart+":"+o.serverName)
	room, err := mx.setUp(ctx, o.localpart)
	if err != nil {
		return err
	}
	irc, err := dialIRC(ctx, o.irc, "floor", o.channel)
	if err != nil {
		return err
	}
	defer irc.close()
	b := &floor{store: st, mx: mx, room: room}
	done := make(chan error, 1)
	go func() { done <- irc.each(o.channel, b.message) }()
	fmt.Printf("%sready %s\n", reply, room)
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
		close(cmds)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-done:
			return fmt.Errorf("irc: %w", err)
		case line, ok := <-cmds:
			if !ok {
				return nil
			}
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if f[0] == "quit" {
				return nil
			}
			out, err := command(f, b, ln)
			if err != nil {
				fmt.Printf("%serr %s\n", reply, err)
				continue
			}
			fmt.Printf("%sok %s\n", reply, out)
		}
	}
}

// floor is the per-message work: commit, then PUT.
type floor struct {
	store *store
	mx    *sender
	room  string
	seq   int64
	last  string // event ID of the previous message, linked in the next commit
	errs  int64
}

// message stores one IRC message and sends it to Matrix.
func (f *floor) message(body string) {
	f.seq++
	if err := f.store.commit(f.seq, body, f.last); err != nil {
		f.errs++
		fmt.Fprintln(os.Stderr, "floor: commit:", err)
		return
	}
	ev, err := f.mx.send(f.room, f.seq, body)
	if err != nil {
		f.errs++
		fmt.Fprintln(os.Stderr, "floor: send:", err)
		return
	}
	f.last = ev
}
