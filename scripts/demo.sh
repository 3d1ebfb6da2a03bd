#!/usr/bin/env bash
# demo.sh builds and starts a local homeserver (Dendrite), a local IRC
# server (Ergo), a local XMPP server (Prosody, with the component
# matrix.localhost) and Causeway with the loopback, IRC and XMPP modules on
# the embedded SQLite store, fully wired, then prints what to do next.
# Everything listens on 127.0.0.1 and lives in .stack/demo.
#
#   ./scripts/demo.sh          start (idempotent: restarts what was running)
#   ./scripts/demo.sh stop     stop Causeway and the servers
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STACK=(bash "$ROOT/scripts/stack.sh")
DEMO=$ROOT/.stack/demo
PIDFILE=$DEMO/causeway.pid
PROSODYCTL_BIN=/usr/bin/prosodyctl
HS=http://127.0.0.1:8008
# The XMPP side (scripts/stack.sh start_prosody): users on "localhost", the
# bridge as the component matrix.localhost, and the demo room #lobby:localhost,
# whose MUC JID is its alias escaped as bridges/xmpp/address says.
PROSODY_DIR=${CAUSEWAY_STACK_DIR:-$ROOT/.stack}/prosody
XMPP_DOMAIN=matrix.localhost
LOBBY_ALIAS='#lobby:localhost'
LOBBY_JID='#lobby\3alocalhost@matrix.localhost'

log() { printf '[demo] %s\n' "$*" >&2; }

stop_bridge() {
	if [[ -f $PIDFILE ]] && kill -0 "$(<"$PIDFILE")" 2>/dev/null; then
		log "stopping causeway (pid $(<"$PIDFILE"))"
		kill -TERM "$(<"$PIDFILE")"
		for _ in $(seq 1 100); do kill -0 "$(<"$PIDFILE")" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f "$PIDFILE"
}

if [[ ${1:-} == stop ]]; then
	stop_bridge
	"${STACK[@]}" stop dendrite ergo prosody
	exit 0
fi

mkdir -p "$DEMO"
log "installing the homeserver (first run builds Dendrite, ~1-2 min)"
"${STACK[@]}" install
log "building causeway"
go build -o "$ROOT/.stack/bin/causeway" ./cmd/causeway

cat >"$DEMO/config.yaml" <<CFG
homeserver:
  url: $HS
  server_name: localhost
  ephemeral_sync: true
appservice:
  address: 127.0.0.1:29300
  bot_displayname: Causeway bridge
  registration: $DEMO/registration.yaml
  admins: ["@demo:localhost"]
database:
  url: sqlite:$DEMO/causeway.db
logging:
  level: info
bridges:
  loopback:
    echo: true
  irc:
    networks:
      local:
        name: Local Ergo
        address: 127.0.0.1:6667
        flood: {rate: 10, burst: 20}
  xmpp:
    server: 127.0.0.1:5347
    domain: $XMPP_DOMAIN
    secret: \${CAUSEWAY_XMPP_SECRET}
CFG

stop_bridge
"${STACK[@]}" stop dendrite ergo prosody >/dev/null 2>&1 || true
log "starting a local Prosody XMPP server with the component $XMPP_DOMAIN"
"${STACK[@]}" start prosody
# The component's secret reaches the bridge through the environment.
CAUSEWAY_XMPP_SECRET=$(<"$PROSODY_DIR/component_secret")
export CAUSEWAY_XMPP_SECRET
"$ROOT/.stack/bin/causeway" generate-registration -c "$DEMO/config.yaml" -o "$DEMO/registration.yaml"
log "starting Dendrite with the registration, and a local Ergo IRC server"
"${STACK[@]}" start --registration "$DEMO/registration.yaml" dendrite ergo

log "starting causeway (log: $DEMO/causeway.log)"
nohup "$ROOT/.stack/bin/causeway" run -c "$DEMO/config.yaml" >"$DEMO/causeway.log" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 1 100); do
	grep -q "causeway started" "$DEMO/causeway.log" 2>/dev/null && break
	kill -0 "$(<"$PIDFILE")" 2>/dev/null || { cat "$DEMO/causeway.log" >&2; exit 1; }
	sleep 0.1
done

# The demo user; "user in use" on a second run is fine.
curl -fsS -o /dev/null -X POST "$HS/_matrix/client/v3/register" \
	-H 'Content-Type: application/json' \
	-d '{"username":"demo","password":"demo-password","auth":{"type":"m.login.dummy"}}' 2>/dev/null || true

# The demo room XMPP users join: a public room with an alias, made by the demo
# user ("alias in use" on a second run is fine).
token=$(curl -fsS -X POST "$HS/_matrix/client/v3/login" -H 'Content-Type: application/json' \
	-d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"demo"},"password":"demo-password"}' |
	grep -o '"access_token":"[^"]*"' | cut -d'"' -f4)
[[ -n $token ]] || { log "could not log in as demo"; exit 1; }
curl -fsS -o /dev/null -X POST "$HS/_matrix/client/v3/createRoom" -H "Authorization: Bearer $token" \
	-H 'Content-Type: application/json' \
	-d '{"preset":"public_chat","visibility":"public","room_alias_name":"lobby","name":"Lobby","topic":"Causeway demo: Matrix and XMPP in one room"}' \
	2>/dev/null || true

# The demo XMPP account (prosodyctl sets the password again on a second run).
"$PROSODYCTL_BIN" --config "$PROSODY_DIR/prosody.cfg.lua" register demo localhost demo-password >/dev/null

# The bridge connects to Prosody as its component in the background.
for _ in $(seq 1 100); do
	grep -q "xmpp component connected" "$DEMO/causeway.log" 2>/dev/null && break
	sleep 0.1
done
grep -q "xmpp component connected" "$DEMO/causeway.log" ||
	log "warning: the XMPP component is not connected yet; see $DEMO/causeway.log"

cat >"$DEMO/poezio.cfg" <<POEZIO
[Poezio]
jid = demo@localhost
password = demo-password
custom_host = 127.0.0.1
custom_port = 5222
force_encryption = false
default_nick = demo-xmpp
POEZIO

cat <<MSG

Causeway is running with the loopback demo module, the IRC bridge
(connected to a local Ergo IRC server at 127.0.0.1:6667) and the XMPP bridge
(the component $XMPP_DOMAIN of a local Prosody at 127.0.0.1:5222).

  Homeserver:  $HS   (server name "localhost")
  Log in as:   demo / demo-password   with any Matrix client (Element: set the homeserver to $HS)

Try:
  * join #loop_lobby:localhost       the bridge creates the portal room on demand
                                     and @loop_echo:localhost answers what you say
  * create a room and invite @loop_alice:localhost: the puppet joins and echoes you
  * join #irc_local_#demo:localhost, then connect any IRC client (irssi, weechat)
    to 127.0.0.1:6667 and /join #demo: you are bridged both ways
  * join $LOBBY_ALIAS on Matrix and the same room from XMPP, as demo@localhost
    (password demo-password, plain TCP without TLS: local demo only). The room's
    MUC JID is   $LOBBY_JID
      profanity: profanity, then
                   /connect demo@localhost server 127.0.0.1 port 5222 tls disable
                   /join $LOBBY_JID nick demo-xmpp
      poezio:    poezio -f $DEMO/poezio.cfg   then
                   /join $LOBBY_JID/demo-xmpp
    More XMPP accounts: $PROSODYCTL_BIN --config $PROSODY_DIR/prosody.cfg.lua register NAME localhost PASSWORD
  * start a direct chat with @causeway:localhost and send !help

Logs: $DEMO/causeway.log and .stack/logs/.   Stop everything: ./scripts/demo.sh stop
MSG
