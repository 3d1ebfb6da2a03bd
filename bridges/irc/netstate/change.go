package netstate

import "fmt"

// ChangeKind says what a [Change] describes.
type ChangeKind uint8

// Kinds of [Change]. The fields a kind uses are listed with it; Channel is
// the channel's name as the server spelled it at first sight.
const (
	// ChangeJoin: Nick joined Channel.
	ChangeJoin ChangeKind = iota + 1
	// ChangePart: Nick left Channel; Text is the reason.
	ChangePart
	// ChangeKick: By kicked Nick from Channel; Text is the reason.
	ChangeKick
	// ChangeQuit: Nick quit and so left Channel (one Change per channel);
	// Text is the reason.
	ChangeQuit
	// ChangeNick: OldNick is now Nick (one Change per shared channel).
	ChangeNick
	// ChangePrefixAdded: By gave Nick the prefix mode Mode in Channel.
	ChangePrefixAdded
	// ChangePrefixRemoved: By took the prefix mode Mode from Nick.
	ChangePrefixRemoved
	// ChangeModeSet: By set the channel mode Mode, with value Arg for
	// modes that take one (such as +k, +l).
	ChangeModeSet
	// ChangeModeUnset: By unset the channel mode Mode.
	ChangeModeUnset
	// ChangeListAdded: By added Arg to the list mode Mode (such as +b).
	ChangeListAdded
	// ChangeListRemoved: By removed Arg from the list mode Mode.
	ChangeListRemoved
	// ChangeTopic: By set the topic of Channel to Text.
	ChangeTopic
	// ChangeAway: Nick is away with message Text, or back when Text is "".
	ChangeAway
	// ChangeHost: Nick's user@host is now Text.
	ChangeHost
	// ChangeAccount: Nick is logged in as Text, or logged out when "".
	ChangeAccount
	// ChangeRealname: Nick's realname is now Text.
	ChangeRealname
)

var changeNames = [...]string{
	ChangeJoin: "join", ChangePart: "part", ChangeKick: "kick", ChangeQuit: "quit",
	ChangeNick: "nick", ChangePrefixAdded: "prefix_added", ChangePrefixRemoved: "prefix_removed",
	ChangeModeSet: "mode_set", ChangeModeUnset: "mode_unset", ChangeListAdded: "list_added",
	ChangeListRemoved: "list_removed", ChangeTopic: "topic", ChangeAway: "away", ChangeHost: "host",
	ChangeAccount: "account", ChangeRealname: "realname",
}

// String returns a short snake_case name for k.
func (k ChangeKind) String() string {
	if int(k) < len(changeNames) && changeNames[k] != "" {
		return changeNames[k]
	}
	return fmt.Sprintf("change(%d)", uint8(k))
}

// Change is one change of network state that the bridge may show in Matrix.
// Which fields are used depends on Kind.
type Change struct {
	Kind    ChangeKind
	Channel string
	Nick    string
	OldNick string
	By      string
	Mode    byte
	Arg     string
	Text    string
}
