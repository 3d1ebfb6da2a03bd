package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// EnvInspIRCdBin names the InspIRCd 3 binary (Debian's /usr/sbin/inspircd,
// printed by `scripts/stack.sh env`).
const EnvInspIRCdBin = "CAUSEWAY_INSPIRCD_BIN"

// InspIRCdServerName is the server name of every test InspIRCd.
const InspIRCdServerName = "irc.test"

// InspIRCdModules are the modules [StartInspIRCd] loads: CAP and the IRCv3
// extensions InspIRCd 3 implements without services. They give the caps
// account-notify, account-tag, away-notify, batch, cap-notify, chghost,
// echo-message, extended-join, invite-notify, labeled-response,
// message-tags, multi-prefix, server-time, setname and userhost-in-names;
// there is no SASL (it needs services) and no CHATHISTORY.
var InspIRCdModules = []string{
	"cap", "ircv3", "ircv3_accounttag", "ircv3_batch", "ircv3_capnotify", "ircv3_chghost",
	"ircv3_ctctags", "ircv3_echomessage", "ircv3_invitenotify", "ircv3_labeledresponse",
	"ircv3_msgid", "ircv3_servertime", "services_account", "namesx", "uhnames", "setname",
	"monitor", "chghost",
}

// InspIRCdOption configures [StartInspIRCd].
type InspIRCdOption func(*inspircdOptions)

type inspircdOptions struct {
	noModules bool
	extra     []string
	// serverName and sid name the server; empty means
	// [InspIRCdServerName] and an ID InspIRCd derives from the name.
	serverName string
	sid        string
}

// WithoutIRCv3 loads none of [InspIRCdModules]: the server then has no CAP
// command at all, like a pre-IRCv3 server.
func WithoutIRCv3() InspIRCdOption {
	return func(o *inspircdOptions) { o.noModules = true }
}

// WithInspIRCdConfig appends raw config tags, such as
// `<module name="chanhistory">` or an `<oper>` block.
func WithInspIRCdConfig(tags ...string) InspIRCdOption {
	return func(o *inspircdOptions) { o.extra = append(o.extra, tags...) }
}

// StartInspIRCd starts a private InspIRCd 3 from CAUSEWAY_INSPIRCD_BIN with a
// config written to t.TempDir(): one plain-text listener on a free 127.0.0.1
// port, server name [InspIRCdServerName], no DNS or ident lookups, no clone
// limits, flood limits out of reach, 1000 channels per client, and the IRCv3
// modules in [InspIRCdModules]. It runs in the foreground with the open-file
// limit raised to the hard limit (--runasroot when run as root), waits until a
// client can register, and is stopped in t.Cleanup. InspIRCd keeps no state on
// disk, so a restarted server starts empty. Without CAUSEWAY_INSPIRCD_BIN the
// test skips, or fails when CI=true.
func StartInspIRCd(t testing.TB, opts ...InspIRCdOption) *IRCServer {
	t.Helper()
	var o inspircdOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin := RequireEnv(t, EnvInspIRCdBin)
	dir := t.TempDir()
	s := newIRCServer("inspircd", "127.0.0.1:"+strconv.Itoa(FreePort(t)), dir, filepath.Join(dir, "inspircd.log"))
	conf := filepath.Join(dir, "inspircd.conf")
	if err := os.WriteFile(conf, []byte(inspircdConfig(s.addr, dir, o)), 0o600); err != nil {
		t.Fatalf("inspircd config: %v", err)
	}
	args := []string{"--config", conf, "--nofork", "--nopid"}
	if os.Geteuid() == 0 {
		args = append(args, "--runasroot")
	}
	s.command = func() *exec.Cmd {
		// InspIRCd sizes its socket table from the soft open-file limit.
		script := `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`
		return exec.Command("/bin/sh", append([]string{"-c", script, bin}, args...)...)
	}
	startProc(t, &s.proc)
	return s
}

// inspircdConfig returns the test config for a server on addr keeping its
// files in dir.
func inspircdConfig(addr, dir string, o inspircdOptions) string {
	host, port, _ := strings.Cut(addr, ":")
	var b strings.Builder
	name, id := o.serverName, ""
	if name == "" {
		name = InspIRCdServerName
	}
	if o.sid != "" {
		id = fmt.Sprintf(" id=%q", o.sid)
	}
	fmt.Fprintf(&b, `<server name=%q%s description="Causeway test server" network="CausewayTest">
<admin name="test" nick="test" email="test@localhost">
<bind address=%q port=%q type="clients">
<connect name="main" allow="*" timeout="60" pingfreq="120" hardsendq="1048576" softsendq="1048576"
  recvq="65536" threshold="100000" commandrate="100000" penaltythreshold="100000" fakelag="no"
  localmax="100000" globalmax="100000" limit="100000" maxconnwarn="no" maxchans="1000"
  resolvehostnames="no" useident="no">
<channels users="1000" opers="1000">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target=%q>
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15"
  splitwhois="no" exemptchanops="">
<security hideserver="" userstats="Pu" customversion="" flatlinks="no" hidesplits="no" hideulines="no"
  hidebans="no" maxtargets="20">
<performance quietbursts="yes" softlimit="100000" somaxconn="4096" netbuffersize="10240" clonesonconnect="no">
`, name, id, host, port, filepath.Join(dir, "ircd.log"))
	if !o.noModules {
		for _, m := range InspIRCdModules {
			fmt.Fprintf(&b, "<module name=%q>\n", m)
		}
	}
	for _, tag := range o.extra {
		b.WriteString(tag + "\n")
	}
	return b.String()
}
