package irc

import (
	"context"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

type adminState struct{}

func (n *network) catchUp(ctx context.Context, c *ircconn.Conn, chans []string)              {}
func (n *network) plumbAnswer(ctx context.Context, c *ircconn.Conn, m *ircmsg.Message) bool { return false }
func (n *network) whoisReply(m *ircmsg.Message)                                             {}
func (m *Module) noteBridged(op intent.Op, msgid string)                                    {}
func (n *network) preferredNick(user matrix.UserID) string                                  { return "" }
func (u *userConn) checkNick(c *ircconn.Conn)                                               {}
func (u *userConn) nickChanged(c *ircconn.Conn, nick string)                                {}
func (u *userConn) nickNumeric(c *ircconn.Conn, m *ircmsg.Message)                          {}
func (m *Module) portalCommand(ctx context.Context, evt *matrix.Event, n *network, channel string, c *matrix.MessageContent) bool {
	return false
}
func (m *Module) flushHistoryMarks(ctx context.Context) {}
