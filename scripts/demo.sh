#!/usr/bin/env bash
# demo.sh builds and starts a local homeserver (Dendrite), a local IRC
# server (Ergo) and Causeway with the loopback and IRC modules on the
# embedded SQLite store, fully wired, then prints what to do next. Everything listens on 127.0.0.1 and lives in .stack/demo.
#
#   ./scripts/demo.sh          start (idempotent: restarts what was running)
#   ./scripts/demo.sh stop     stop Causeway and the homeserver
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STACK=(bash "$ROOT/scripts/stack.sh")
DEMO=$ROOT/.stack/demo
PIDFILE=$DEMO/causeway.pid
HS=http://127.0.0.1:8008

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
	"${STACK[@]}" stop dendrite ergo
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
CFG
"$ROOT/.stack/bin/causeway" generate-registration -c "$DEMO/config.yaml" -o "$DEMO/registration.yaml"

stop_bridge
"${STACK[@]}" stop dendrite ergo >/dev/null 2>&1 || true
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

cat <<MSG

Causeway is running with the loopback demo module and the IRC bridge,
connected to a local Ergo IRC server at 127.0.0.1:6667.

  Homeserver:  $HS   (server name "localhost")
  Log in as:   demo / demo-password   with any Matrix client (Element: set the homeserver to $HS)

Try:
  * join #loop_lobby:localhost       the bridge creates the portal room on demand
                                     and @loop_echo:localhost answers what you say
  * create a room and invite @loop_alice:localhost: the puppet joins and echoes you
  * join #irc_local_#demo:localhost, then connect any IRC client (irssi, weechat)
    to 127.0.0.1:6667 and /join #demo: you are bridged both ways
  * start a direct chat with @causeway:localhost and send !help

Logs: $DEMO/causeway.log and .stack/logs/.   Stop everything: ./scripts/demo.sh stop
MSG
