package ircconn

import (
	"strconv"
	"strings"

	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/ergochat/irc-go/ircmsg"
)

// ISupport is what a server advertised in RPL_ISUPPORT (005), with the
// RFC defaults for what it did not, plus the limits of draft/multiline.
type ISupport struct {
	// Network is the NETWORK name, if any.
	Network string
	// CaseMapping is CASEMAPPING (rfc1459 by default).
	CaseMapping ircfmt.CaseMapping
	// NickLen is NICKLEN (9 by default).
	NickLen int
	// ChanTypes is CHANTYPES ("#&" by default).
	ChanTypes string
	// PrefixModes and PrefixSymbols are PREFIX: the membership modes in
	// order of rank and their prefixes ("ov" and "@+" by default).
	PrefixModes, PrefixSymbols string
	// ChanModes is CHANMODES: list modes, modes with a parameter always,
	// modes with a parameter when set, and modes without parameter.
	ChanModes [4]string
	// TargMax is TARGMAX: the maximum targets per command (0 means no
	// limit). Nil when not advertised.
	TargMax map[string]int
	// LineLen is the maximum line length in bytes without tags, CR LF
	// included (LINELEN, else 512).
	LineLen int
	// UTF8Only is UTF8ONLY: the server rejects text that is not UTF-8.
	UTF8Only bool
	// StatusMsg is STATUSMSG: prefixes that address a channel's members
	// of a rank ("@#chan").
	StatusMsg string
	// Monitor is MONITOR: how many nicks may be monitored; -1 when not
	// supported, 0 when unlimited.
	Monitor int
	// WHOX reports WHOX support.
	WHOX bool
	// Bot is the BOT user mode letter, if any.
	Bot string
	// MultilineMaxBytes and MultilineMaxLines are the draft/multiline
	// limits (0: not enabled or no limit on lines).
	MultilineMaxBytes, MultilineMaxLines int
	// ChatHistory is the most messages one CHATHISTORY request returns
	// (CHATHISTORY or draft/CHATHISTORY; 0: not advertised or no limit).
	ChatHistory int
}

func defaultISupport() ISupport {
	return ISupport{
		CaseMapping:   ircfmt.CaseMappingRFC1459,
		NickLen:       ircfmt.DefaultNickLen,
		ChanTypes:     "#&",
		PrefixModes:   "ov",
		PrefixSymbols: "@+",
		LineLen:       ircfmt.LineLimit,
		Monitor:       -1,
	}
}

// IsChannel reports whether target names a channel (after any STATUSMSG
// prefix).
func (is *ISupport) IsChannel(target string) bool {
	target = strings.TrimLeft(target, is.StatusMsg)
	return target != "" && strings.IndexByte(is.ChanTypes, target[0]) >= 0
}

// ModeForPrefix returns the membership mode of a prefix symbol ('@' → 'o'),
// or 0.
func (is *ISupport) ModeForPrefix(symbol byte) byte {
	if i := strings.IndexByte(is.PrefixSymbols, symbol); i >= 0 && i < len(is.PrefixModes) {
		return is.PrefixModes[i]
	}
	return 0
}

// PrefixForMode returns the prefix symbol of a membership mode ('o' → '@'),
// or 0.
func (is *ISupport) PrefixForMode(mode byte) byte {
	if i := strings.IndexByte(is.PrefixModes, mode); i >= 0 && i < len(is.PrefixSymbols) {
		return is.PrefixSymbols[i]
	}
	return 0
}

// parseISupport applies one RPL_ISUPPORT line.
func (c *Conn) parseISupport(m *ircmsg.Message) {
	if len(m.Params) < 3 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tok := range m.Params[1 : len(m.Params)-1] {
		c.isupport.apply(c.cfg.Shared, tok)
	}
}

// apply sets one "KEY", "KEY=VALUE" or "-KEY" token.
func (is *ISupport) apply(shared *Shared, tok string) {
	key, value, _ := strings.Cut(tok, "=")
	neg := strings.HasPrefix(key, "-")
	if neg {
		key, value = key[1:], ""
	}
	value = unescapeISupport(value)
	def := defaultISupport()
	switch key {
	case "NETWORK":
		is.Network = strings.Clone(value)
	case "CASEMAPPING":
		is.CaseMapping = def.CaseMapping
		if value != "" {
			is.CaseMapping = ircfmt.CaseMapping(strings.Clone(strings.ToLower(value)))
		}
	case "NICKLEN":
		is.NickLen = atoiOr(value, def.NickLen)
	case "CHANTYPES":
		is.ChanTypes = def.ChanTypes
		if !neg {
			is.ChanTypes = strings.Clone(value)
		}
	case "PREFIX":
		is.PrefixModes, is.PrefixSymbols = def.PrefixModes, def.PrefixSymbols
		if modes, symbols, ok := strings.Cut(strings.TrimPrefix(value, "("), ")"); ok && len(modes) == len(symbols) {
			is.PrefixModes, is.PrefixSymbols = strings.Clone(modes), strings.Clone(symbols)
		}
	case "CHANMODES":
		is.ChanModes = [4]string{}
		for i, part := range strings.SplitN(value, ",", 4) {
			is.ChanModes[i] = strings.Clone(part)
		}
	case "TARGMAX":
		is.TargMax = shared.targMaxTable(value)
	case "CHATHISTORY", "draft/CHATHISTORY":
		is.ChatHistory = max(atoiOr(value, 0), 0)
	case "LINELEN":
		is.LineLen = max(atoiOr(value, def.LineLen), def.LineLen)
	case "UTF8ONLY":
		is.UTF8Only = !neg
	case "STATUSMSG":
		is.StatusMsg = strings.Clone(value)
	case "MONITOR":
		is.Monitor = -1
		if !neg {
			is.Monitor = atoiOr(value, 0)
		}
	case "WHOX":
		is.WHOX = !neg
	case "BOT":
		is.Bot = strings.Clone(value)
	}
}

// setMultiline reads the draft/multiline cap value
// ("max-bytes=4096,max-lines=24").
func (is *ISupport) setMultiline(value string) {
	is.MultilineMaxBytes, is.MultilineMaxLines = 0, 0
	for kv := range strings.SplitSeq(value, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "max-bytes":
			is.MultilineMaxBytes = atoiOr(v, 0)
		case "max-lines":
			is.MultilineMaxLines = atoiOr(v, 0)
		}
	}
}

func parseTargMax(value string) map[string]int {
	if value == "" {
		return nil
	}
	out := map[string]int{}
	for kv := range strings.SplitSeq(value, ",") {
		k, v, _ := strings.Cut(kv, ":")
		if k != "" {
			out[strings.Clone(strings.ToUpper(k))] = atoiOr(v, 0)
		}
	}
	return out
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return def
	}
	return n
}

// unescapeISupport decodes the \xHH escapes of ISUPPORT values.
func unescapeISupport(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil && n >= 0x20 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
