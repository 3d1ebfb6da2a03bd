package irc

import (
	"context"
	"fmt"
	"net"

	"github.com/causewaybridge/causeway/bridges/irc/identd"
	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/matrix"
)

// startIdentd starts the RFC 1413 server when the config asks for one.
func (m *Module) startIdentd(ctx context.Context) error {
	if m.cfg.Identd == "" {
		return nil
	}
	m.ident = &identd.Server{Addr: m.cfg.Identd, Logger: m.log.With("component", "identd")}
	if err := m.ident.Start(ctx); err != nil {
		return fmt.Errorf("identd on %s: %w", m.cfg.Identd, err)
	}
	m.log.Info("ident server listening", "addr", m.ident.ListenAddr())
	return nil
}

// identUsername is the ident a Matrix user's connections answer with: their
// localpart made safe for IRC.
func identUsername(user matrix.UserID) string {
	return ircfmt.SanitizeNick(user.Localpart(), 10)
}

// identHook returns the OnConnect callback that registers a connection's
// port pair with the ident server, and the function that forgets it.
func (m *Module) identHook(user matrix.UserID) (onConnect func(local, remote net.Addr), forget func()) {
	if m.ident == nil {
		return nil, func() {}
	}
	var lport, rport int
	onConnect = func(local, remote net.Addr) {
		l, lok := local.(*net.TCPAddr)
		r, rok := remote.(*net.TCPAddr)
		if !lok || !rok {
			return
		}
		lport, rport = l.Port, r.Port
		m.ident.Register(lport, rport, identUsername(user))
	}
	return onConnect, func() {
		if lport != 0 {
			m.ident.Unregister(lport, rport)
		}
	}
}
