#!/usr/bin/env bash
# stack.sh installs, starts and stops the real servers Causeway is tested
# against, all on 127.0.0.1 and all under .stack/ in the repository:
#
#   bash scripts/stack.sh install                    apt packages (InspIRCd, Prosody, ejabberd), Dendrite, Ergo and staticcheck builds
#   bash scripts/stack.sh start [--registration F] [SERVER...]
#                   SERVER: postgres dendrite ergo (:6667) inspircd (:6668)
#                           prosody (c2s :5222, component :5347) (default: all)
#   bash scripts/stack.sh stop [SERVER...]           stop what start started
#   bash scripts/stack.sh env                        print export lines for tests
#   bash scripts/stack.sh status                     show what is running
#
# Every server has its own install_X / start_X functions; add a new server by
# writing those two and listing it in SERVERS. Processes are recorded in
# .stack/pids as "name pid" lines and stopped by those PIDs only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=${CAUSEWAY_STACK_DIR:-$ROOT/.stack}
BIN=$STACK/bin
LOGS=$STACK/logs
PIDS=$STACK/pids

# Servers in start order; stop runs in reverse.
SERVERS=(postgres dendrite ergo inspircd prosody)
# Tools that install builds but start never runs (scripts/test.sh uses them).
# ejabberd is one: tests start their own instances (internal/integration
# StartEjabberd), as they do for Prosody (start_prosody is for demos).
TOOLS=(staticcheck ejabberd)

PG_ROLE=causeway
PG_PASSWORD=causeway
PG_PORT=5432
PG_URL="postgres://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres?sslmode=disable"

DENDRITE_MODULE=$ROOT/build/dendrite
DENDRITE_DIR=$STACK/dendrite
DENDRITE_ADDR=127.0.0.1:8008
DENDRITE_TOOLS=(dendrite create-account generate-keys generate-config)

ERGO_MODULE=$ROOT/build/ergo
ERGO_PKG=github.com/ergochat/ergo
INSPIRCD_BIN=/usr/sbin/inspircd
PROSODY_BIN=/usr/bin/prosody
PROSODYCTL_BIN=/usr/bin/prosodyctl
EJABBERDCTL_BIN=/usr/sbin/ejabberdctl
STATICCHECK_MODULE=$ROOT/build/staticcheck

log() { printf '[stack] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# as_root runs a command as root (directly, or through sudo when available).
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root for: $*"
	fi
}

# as_postgres runs a command as the postgres OS user (peer authentication).
as_postgres() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		sudo -u postgres "$@"
	fi
}

# ---------------------------------------------------------------- install

# apt_ensure installs the Debian packages that are not installed yet; it runs
# apt-get update only when something is missing, so a warm machine is quick.
apt_ensure() {
	local missing=() p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	((${#missing[@]} == 0)) && return 0
	log "apt-get install ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# A policy-rc.d answering 101 keeps Debian from auto-starting the services
	# it installs: the stack starts (and stops) its own instances.
	local policy=/usr/sbin/policy-rc.d added=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
		as_root chmod 755 "$policy"
		added=1
	fi
	local rc=0
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
	((added)) && as_root rm -f "$policy"
	((rc == 0)) || die "apt-get install failed"
}

install_base() {
	command -v go >/dev/null || die "Go is not installed (need Go >= 1.26 on PATH)"
	apt_ensure ca-certificates curl gcc libc6-dev git
}

install_postgres() {
	apt_ensure postgresql
}

# dendrite_stamp identifies a Dendrite build: the pinned module files plus the
# Go toolchain and platform. A matching stamp means the binaries are current.
dendrite_stamp() {
	{
		cat "$DENDRITE_MODULE/go.mod" "$DENDRITE_MODULE/go.sum"
		go env GOVERSION GOOS GOARCH
	} | sha256sum | cut -d' ' -f1
}

install_dendrite() {
	local stamp_file=$BIN/.dendrite.stamp stamp t ok=1
	stamp=$(dendrite_stamp)
	for t in "${DENDRITE_TOOLS[@]}"; do [[ -x $BIN/$t ]] || ok=0; done
	if ((ok)) && [[ -f $stamp_file && $(<"$stamp_file") == "$stamp" ]]; then
		log "dendrite: up to date in $BIN"
		return 0
	fi
	log "dendrite: building $(grep -o 'dendrite v[0-9.]*' "$DENDRITE_MODULE/go.sum" | head -1) into $BIN (cold ~80 s)"
	mkdir -p "$BIN"
	(cd "$DENDRITE_MODULE" && CGO_ENABLED=1 GOBIN=$BIN GOFLAGS=-mod=readonly go install tool) ||
		die "dendrite build failed"
	printf '%s\n' "$stamp" >"$stamp_file"
}

# ergo_stamp identifies an Ergo build like dendrite_stamp does.
ergo_stamp() {
	{
		cat "$ERGO_MODULE/go.mod" "$ERGO_MODULE/go.sum"
		go env GOVERSION GOOS GOARCH
	} | sha256sum | cut -d' ' -f1
}

# install_ergo builds the pinned Ergo IRC server into $BIN and copies the
# default.yaml of that version next to it (tests derive their config from it).
install_ergo() {
	local stamp_file=$BIN/.ergo.stamp stamp src
	stamp=$(ergo_stamp)
	if [[ -x $BIN/ergo && -f $BIN/ergo.default.yaml && -f $stamp_file && $(<"$stamp_file") == "$stamp" ]]; then
		log "ergo: up to date in $BIN"
		return 0
	fi
	log "ergo: building $(grep -o "$ERGO_PKG v[^ ]*" "$ERGO_MODULE/go.mod" | head -1) into $BIN (cold ~30 s)"
	mkdir -p "$BIN"
	(cd "$ERGO_MODULE" && GOBIN=$BIN GOFLAGS=-mod=readonly go install tool) || die "ergo build failed"
	src=$(cd "$ERGO_MODULE" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' "$ERGO_PKG") || die "ergo: module not found"
	install -m 644 "$src/default.yaml" "$BIN/ergo.default.yaml"
	printf '%s\n' "$stamp" >"$stamp_file"
}

# install_inspircd installs Debian's InspIRCd 3 (its service is kept from
# starting by apt_ensure; tests run their own instances).
install_inspircd() {
	apt_ensure inspircd
	[[ -x $INSPIRCD_BIN ]] || die "inspircd: $INSPIRCD_BIN missing after install"
}

# install_prosody installs Debian's Prosody 0.12 for XMPP tests (tests run
# their own instances with their own config, see internal/integration
# StartProsody). apt_ensure keeps Debian's service from starting during the
# install; the service is then disabled, and a system instance that runs
# anyway (started by an earlier install) is stopped by its PID file, so the
# tests' ports and data are the only Prosody on the machine.
install_prosody() {
	apt_ensure prosody
	[[ -x $PROSODY_BIN && -x $PROSODYCTL_BIN ]] || die "prosody: $PROSODY_BIN or $PROSODYCTL_BIN missing after install"
	# Disabled at boot, so that a reboot does not start it either.
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
		as_root systemctl disable --now prosody.service >/dev/null 2>&1 || true
	elif [[ -e /etc/init.d/prosody ]] && command -v update-rc.d >/dev/null; then
		as_root update-rc.d prosody disable >/dev/null 2>&1 || true
	fi
	local pidfile=/run/prosody/prosody.pid pid
	[[ -f $pidfile ]] && pid=$(<"$pidfile") || return 0
	if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q prosody; then
		log "prosody: stopping the system instance (pid $pid from $pidfile)"
		as_root kill -TERM "$pid" 2>/dev/null || true
	fi
}

# install_ejabberd installs Debian's ejabberd 23.01, the second XMPP server
# of the tests (internal/integration StartEjabberd runs private instances
# from the Erlang runtime and library directory named in ejabberdctl). As for
# Prosody, the system service is kept from starting during the install,
# disabled, and a system instance that runs anyway is stopped by its PID file.
install_ejabberd() {
	apt_ensure ejabberd
	[[ -x $EJABBERDCTL_BIN ]] || die "ejabberd: $EJABBERDCTL_BIN missing after install"
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
		as_root systemctl disable --now ejabberd.service >/dev/null 2>&1 || true
	elif [[ -e /etc/init.d/ejabberd ]] && command -v update-rc.d >/dev/null; then
		as_root update-rc.d ejabberd disable >/dev/null 2>&1 || true
	fi
	local pidfile=/run/ejabberd/ejabberd.pid pid
	[[ -f $pidfile ]] && pid=$(<"$pidfile") || return 0
	if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'beam.*ejabberd'; then
		log "ejabberd: stopping the system instance (pid $pid from $pidfile)"
		as_root kill -TERM "$pid" 2>/dev/null || true
	fi
}

# install_staticcheck builds the pinned staticcheck (build/staticcheck) into
# $BIN, skipping the build when the stamp of the module files and toolchain
# matches.
install_staticcheck() {
	local stamp_file=$BIN/.staticcheck.stamp stamp
	stamp=$({
		cat "$STATICCHECK_MODULE/go.mod" "$STATICCHECK_MODULE/go.sum"
		go env GOVERSION GOOS GOARCH
	} | sha256sum | cut -d' ' -f1)
	if [[ -x $BIN/staticcheck && -f $stamp_file && $(<"$stamp_file") == "$stamp" ]]; then
		log "staticcheck: up to date in $BIN"
		return 0
	fi
	log "staticcheck: building $(grep -o 'honnef.co/go/tools v[^ ]*' "$STATICCHECK_MODULE/go.mod" | head -1) into $BIN"
	mkdir -p "$BIN"
	(cd "$STATICCHECK_MODULE" && GOBIN=$BIN GOFLAGS=-mod=readonly go install tool) ||
		die "staticcheck build failed"
	printf '%s\n' "$stamp" >"$stamp_file"
}

cmd_install() {
	mkdir -p "$BIN" "$LOGS"
	install_base
	local s
	for s in "${SERVERS[@]}" "${TOOLS[@]}"; do "install_$s"; done
}

# ---------------------------------------------------------------- process records

record_pid() { printf '%s %s\n' "$1" "$2" >>"$PIDS"; }

# recorded_pid prints the live PID recorded for a name, if any.
recorded_pid() {
	[[ -f $PIDS ]] || return 1
	local name pid
	while read -r name pid; do
		if [[ $name == "$1" ]] && kill -0 "$pid" 2>/dev/null; then
			printf '%s\n' "$pid"
			return 0
		fi
	done <"$PIDS"
	return 1
}

forget_pid() {
	[[ -f $PIDS ]] || return 0
	grep -v "^$1 " "$PIDS" >"$PIDS.tmp" || true
	mv "$PIDS.tmp" "$PIDS"
}

# stop_pid sends SIGTERM, waits up to 20 s, then SIGKILL.
stop_pid() {
	local name=$1 pid=$2 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || { log "$name: stopped (pid $pid)"; return 0; }
		sleep 0.1
	done
	log "$name: did not exit on SIGTERM, sending SIGKILL (pid $pid)"
	kill -KILL "$pid" 2>/dev/null || true
}

# wait_http polls a URL until it answers 2xx, the process dies, or 60 s pass.
wait_http() {
	local name=$1 pid=$2 url=$3 log_file=$4 i
	for ((i = 0; i < 600; i++)); do
		curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$log_file" >&2 || true
			die "$name exited during startup (log: $log_file)"
		fi
		sleep 0.1
	done
	tail -n 30 "$log_file" >&2 || true
	die "$name not ready at $url after 60 s (log: $log_file)"
}

# ---------------------------------------------------------------- postgres

# pg_cluster prints "version name status" of the first cluster, creating the
# default cluster when apt installed none.
pg_cluster() {
	local line
	line=$(pg_lsclusters -h 2>/dev/null | head -n 1)
	if [[ -z $line ]]; then
		local ver
		ver=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
		[[ -n $ver ]] || die "no PostgreSQL server installed (run: stack.sh install)"
		log "postgres: creating cluster $ver/main"
		as_root pg_createcluster "$ver" main >/dev/null
		line=$(pg_lsclusters -h | head -n 1)
	fi
	awk '{print $1, $2, $4}' <<<"$line"
}

start_postgres() {
	local ver name status
	read -r ver name status < <(pg_cluster)
	if [[ $status == online ]]; then
		log "postgres: cluster $ver/$name already running (left running on stop)"
	else
		log "postgres: starting cluster $ver/$name"
		as_root pg_ctlcluster "$ver" "$name" start
		printf '%s %s\n' "$ver" "$name" >"$STACK/postgres-started"
	fi
	local i
	for ((i = 0; i < 100; i++)); do
		pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
		sleep 0.1
	done
	pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || die "postgres: not accepting connections on 127.0.0.1:$PG_PORT"
	# Tests create and drop their own databases and schemas: the role needs
	# CREATEDB, and SUPERUSER for schemas in databases it does not own.
	as_postgres psql -q -v ON_ERROR_STOP=1 -d postgres <<-SQL >/dev/null
		DO \$\$
		BEGIN
		  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
		    CREATE ROLE $PG_ROLE;
		  END IF;
		END
		\$\$;
		ALTER ROLE $PG_ROLE LOGIN CREATEDB SUPERUSER PASSWORD '$PG_PASSWORD';
	SQL
	log "postgres: ready at $PG_URL"
}

stop_postgres() {
	[[ -f $STACK/postgres-started ]] || return 0
	local ver name
	read -r ver name <"$STACK/postgres-started"
	log "postgres: stopping cluster $ver/$name"
	as_root pg_ctlcluster "$ver" "$name" stop || log "postgres: stop failed"
	rm -f "$STACK/postgres-started"
}

# ---------------------------------------------------------------- dendrite

# dendrite_config writes .stack/dendrite/dendrite.yaml from generate-config's
# CI defaults, patched for a private single-server test homeserver. Data and
# keys survive restarts; the config is regenerated each start.
dendrite_config() {
	local registration=$1 cfg=$DENDRITE_DIR/dendrite.yaml secret
	mkdir -p "$DENDRITE_DIR"
	[[ -f $DENDRITE_DIR/matrix_key.pem ]] ||
		"$BIN/generate-keys" -private-key "$DENDRITE_DIR/matrix_key.pem" >/dev/null
	[[ -f $DENDRITE_DIR/shared_secret ]] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DENDRITE_DIR/shared_secret"
	secret=$(<"$DENDRITE_DIR/shared_secret")
	local files='[]'
	[[ -n $registration ]] && files="[\"$registration\"]"
	"$BIN/generate-config" -ci -server localhost -dir "$DENDRITE_DIR" |
		sed -e "s|^  private_key: .*|  private_key: $DENDRITE_DIR/matrix_key.pem|" \
			-e 's|^  disable_federation: .*|  disable_federation: true|' \
			-e 's|^    in_memory: false|    in_memory: true|' \
			-e "s|^  registration_shared_secret: .*|  registration_shared_secret: \"$secret\"|" \
			-e 's|^  registration_disabled: .*|  registration_disabled: false|' \
			-e "s|^  config_files: .*|  config_files: $files|" \
			-e 's|^  level: trace|  level: info|' \
			>"$cfg.tmp"
	# The patterns match generate-config v0.15.2's output; fail loudly if a
	# new Dendrite version changes its layout.
	local want
	for want in "private_key: $DENDRITE_DIR/matrix_key.pem" 'disable_federation: true' \
		'in_memory: true' "registration_shared_secret: \"$secret\"" 'registration_disabled: false' \
		"config_files: $files" 'server_name: localhost'; do
		grep -qF "$want" "$cfg.tmp" || die "dendrite config: could not set '$want'"
	done
	# Rate limiting sits under client_api; its "enabled" line is the first one
	# after "rate_limiting:".
	sed -i '/^  rate_limiting:/{n;s/enabled: .*/enabled: false/}' "$cfg.tmp"
	grep -A1 '^  rate_limiting:' "$cfg.tmp" | grep -q 'enabled: false' || die "dendrite config: rate limiting still on"
	mv "$cfg.tmp" "$cfg"
}

start_dendrite() {
	local registration=${REGISTRATION:-} pid
	[[ -x $BIN/dendrite ]] || die "dendrite not built (run: stack.sh install)"
	if [[ -n $registration ]]; then
		[[ -f $registration ]] || die "registration file not found: $registration"
		registration=$(cd "$(dirname "$registration")" && pwd)/$(basename "$registration")
	fi
	if pid=$(recorded_pid dendrite); then
		log "dendrite: restarting (pid $pid) to apply the config"
		stop_pid dendrite "$pid"
		forget_pid dendrite
	fi
	if curl -fsS -o /dev/null --max-time 1 "http://$DENDRITE_ADDR/_matrix/client/versions" 2>/dev/null; then
		die "dendrite: something not started by this script already answers on $DENDRITE_ADDR"
	fi
	dendrite_config "$registration"
	local log_file=$LOGS/dendrite.log
	log "dendrite: starting on $DENDRITE_ADDR${registration:+ with registration $registration}"
	(cd "$DENDRITE_DIR" && exec "$BIN/dendrite" -config "$DENDRITE_DIR/dendrite.yaml" \
		-http-bind-address "$DENDRITE_ADDR" -really-enable-open-registration) \
		</dev/null >>"$log_file" 2>&1 &
	pid=$!
	record_pid dendrite "$pid"
	wait_http dendrite "$pid" "http://$DENDRITE_ADDR/_matrix/client/versions" "$log_file"
	log "dendrite: ready at http://$DENDRITE_ADDR (pid $pid, log $log_file)"
}

stop_dendrite() {
	local pid
	if pid=$(recorded_pid dendrite); then stop_pid dendrite "$pid"; fi
	forget_pid dendrite
}

# ---------------------------------------------------------------- IRC servers
# Tests start their own IRC servers (internal/integration StartErgo and
# StartInspIRCd); these instances are for manual use and demos.

ERGO_ADDR=127.0.0.1:6667
INSPIRCD_ADDR=127.0.0.1:6668

# wait_tcp waits until host:port accepts connections, the process dies, or
# 30 s pass.
wait_tcp() {
	local name=$1 pid=$2 addr=$3 log_file=$4 i
	for ((i = 0; i < 300; i++)); do
		(exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$log_file" >&2 || true
			die "$name exited during startup (log: $log_file)"
		fi
		sleep 0.1
	done
	die "$name not accepting connections on $addr after 30 s (log: $log_file)"
}

# ergo_config writes .stack/ergo/ircd.yaml: this version's default.yaml with
# one plain listener, no TLS, MOTD, translations or fakelag.
ergo_config() {
	local dir=$STACK/ergo cfg=$STACK/ergo/ircd.yaml
	mkdir -p "$dir"
	sed -e '/^        "\[::1\]:6667":/d' -e '/^        ":6697":/,/min-tls-version/d' \
		-e "s|^        \"127.0.0.1:6667\":.*|        \"$ERGO_ADDR\":|" \
		-e '/^    motd: ergo.motd/d' \
		-e '/^languages:/,/^[a-z]/s/^    enabled: true/    enabled: false/' \
		-e '/^fakelag:/,/^[a-z]/s/^    enabled: true/    enabled: false/' \
		-e "s|^    path: ircd.db|    path: $dir/ircd.db|" \
		"$BIN/ergo.default.yaml" >"$cfg"
	grep -qF "\"$ERGO_ADDR\":" "$cfg" && ! grep -q '":6697":\|^    motd: ' "$cfg" ||
		die "ergo config: could not patch $BIN/ergo.default.yaml"
	[[ -f $dir/ircd.db ]] || "$BIN/ergo" initdb --conf "$cfg" --quiet
}

start_ergo() {
	local pid log_file=$LOGS/ergo.log
	[[ -x $BIN/ergo ]] || die "ergo not built (run: stack.sh install)"
	if pid=$(recorded_pid ergo); then log "ergo: already running (pid $pid)"; return 0; fi
	ergo_config
	(cd "$STACK/ergo" && exec "$BIN/ergo" run --conf "$STACK/ergo/ircd.yaml") </dev/null >>"$log_file" 2>&1 &
	pid=$!
	record_pid ergo "$pid"
	wait_tcp ergo "$pid" "$ERGO_ADDR" "$log_file"
	log "ergo: ready at $ERGO_ADDR (pid $pid, log $log_file)"
}

stop_ergo() {
	local pid
	if pid=$(recorded_pid ergo); then stop_pid ergo "$pid"; fi
	forget_pid ergo
}

start_inspircd() {
	local pid log_file=$LOGS/inspircd.log dir=$STACK/inspircd m
	[[ -x $INSPIRCD_BIN ]] || die "inspircd not installed (run: stack.sh install)"
	if pid=$(recorded_pid inspircd); then log "inspircd: already running (pid $pid)"; return 0; fi
	mkdir -p "$dir"
	{
		printf '<server name="irc.test" description="Causeway dev server" network="CausewayDev">\n'
		printf '<admin name="dev" nick="dev" email="dev@localhost">\n'
		printf '<bind address="%s" port="%s" type="clients">\n' "${INSPIRCD_ADDR%:*}" "${INSPIRCD_ADDR##*:}"
		printf '<connect name="main" allow="*" localmax="1000" globalmax="1000" resolvehostnames="no" useident="no" fakelag="no" maxchans="1000">\n'
		for m in cap ircv3 ircv3_accounttag ircv3_batch ircv3_capnotify ircv3_chghost ircv3_ctctags \
			ircv3_echomessage ircv3_invitenotify ircv3_labeledresponse ircv3_msgid ircv3_servertime \
			services_account namesx uhnames setname monitor chghost; do
			printf '<module name="%s">\n' "$m"
		done
	} >"$dir/inspircd.conf"
	local args=(--config "$dir/inspircd.conf" --nofork --nopid)
	[[ $(id -u) -eq 0 ]] && args+=(--runasroot)
	(cd "$dir" && exec "$INSPIRCD_BIN" "${args[@]}") </dev/null >>"$log_file" 2>&1 &
	pid=$!
	record_pid inspircd "$pid"
	wait_tcp inspircd "$pid" "$INSPIRCD_ADDR" "$log_file"
	log "inspircd: ready at $INSPIRCD_ADDR (pid $pid, log $log_file)"
}

stop_inspircd() {
	local pid
	if pid=$(recorded_pid inspircd); then stop_pid inspircd "$pid"; fi
	forget_pid inspircd
}

# ---------------------------------------------------------------- XMPP server
# Tests start their own Prosody (internal/integration StartProsody); this one
# is for manual use and the demo: users on "localhost", a MUC service on
# conference.localhost, and the external component matrix.localhost whose
# secret is made once and kept in .stack/prosody/component_secret.

PROSODY_C2S=127.0.0.1:5222
PROSODY_COMPONENT_ADDR=127.0.0.1:5347
PROSODY_COMPONENT=matrix.localhost

# prosody_config writes .stack/prosody/prosody.cfg.lua: plain-text c2s (SASL
# without TLS: for local tests only), the component port, no s2s or HTTP.
prosody_config() {
	local dir=$STACK/prosody secret root=false
	mkdir -p "$dir/data" "$dir/certs"
	[[ -f $dir/component_secret ]] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/component_secret"
	secret=$(<"$dir/component_secret")
	[[ $(id -u) -eq 0 ]] && root=true
	cat >"$dir/prosody.cfg.lua" <<-LUA
		-- Written by scripts/stack.sh for the demo and manual tests; not for production.
		run_as_root = $root
		data_path = "$dir/data"
		certificates = "$dir/certs"
		pidfile = "$dir/prosody.pid"
		log = { { levels = { min = "info" }, to = "file", filename = "$LOGS/prosody.log" } }
		interfaces = { "${PROSODY_C2S%:*}" }
		c2s_ports = { ${PROSODY_C2S##*:} }
		c2s_direct_tls_ports = { }
		legacy_ssl_ports = { }
		component_interfaces = { "${PROSODY_COMPONENT_ADDR%:*}" }
		component_ports = { ${PROSODY_COMPONENT_ADDR##*:} }
		s2s_ports = { }
		http_ports = { }
		https_ports = { }
		c2s_require_encryption = false
		s2s_require_encryption = false
		allow_unencrypted_plain_auth = true
		authentication = "internal_hashed"
		storage = "internal"
		modules_enabled = { "disco", "roster", "saslauth", "ping", "mam", "posix", "offline" }
		modules_disabled = { "s2s", "tls", "limits", "http" }

		VirtualHost "localhost"

		Component "conference.localhost" "muc"
		    modules_enabled = { "muc_mam" }

		Component "$PROSODY_COMPONENT"
		    component_secret = "$secret"
	LUA
}

start_prosody() {
	local pid log_file=$LOGS/prosody.log dir=$STACK/prosody
	[[ -x $PROSODY_BIN ]] || die "prosody not installed (run: stack.sh install)"
	if pid=$(recorded_pid prosody); then log "prosody: already running (pid $pid)"; return 0; fi
	prosody_config
	(cd "$dir" && exec "$PROSODY_BIN" --config "$dir/prosody.cfg.lua" -F) </dev/null >>"$log_file" 2>&1 &
	pid=$!
	record_pid prosody "$pid"
	wait_tcp prosody "$pid" "$PROSODY_C2S" "$log_file"
	wait_tcp prosody "$pid" "$PROSODY_COMPONENT_ADDR" "$log_file"
	log "prosody: ready, c2s at $PROSODY_C2S, component $PROSODY_COMPONENT at $PROSODY_COMPONENT_ADDR (pid $pid, log $log_file)"
}

stop_prosody() {
	local pid
	if pid=$(recorded_pid prosody); then stop_pid prosody "$pid"; fi
	forget_pid prosody
}

# ---------------------------------------------------------------- commands

cmd_start() {
	REGISTRATION=
	local wanted=()
	while (($#)); do
		case $1 in
		--registration) REGISTRATION=${2:?--registration needs a file}; shift 2 ;;
		--registration=*) REGISTRATION=${1#*=}; shift ;;
		-*) die "start: unknown flag $1" ;;
		*) wanted+=("$1"); shift ;;
		esac
	done
	((${#wanted[@]})) || wanted=("${SERVERS[@]}")
	local s w
	for w in "${wanted[@]}"; do
		declare -F "start_$w" >/dev/null || die "start: unknown server '$w' (known: ${SERVERS[*]})"
	done
	mkdir -p "$LOGS"
	for s in "${SERVERS[@]}"; do # always in dependency order
		for w in "${wanted[@]}"; do
			if [[ $w == "$s" ]]; then "start_$s"; fi
		done
	done
}

cmd_stop() {
	local i w
	for w in "$@"; do
		declare -F "stop_$w" >/dev/null || die "stop: unknown server '$w' (known: ${SERVERS[*]})"
	done
	if (($#)); then
		for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do
			for w in "$@"; do
				if [[ $w == "${SERVERS[i]}" ]]; then "stop_$w"; fi
			done
		done
		return 0
	fi
	for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do "stop_${SERVERS[i]}"; done
	# Anything else recorded (e.g. by an older version of this script).
	if [[ -f $PIDS ]]; then
		local name pid
		while read -r name pid; do
			kill -0 "$pid" 2>/dev/null && stop_pid "$name" "$pid"
		done <"$PIDS"
		rm -f "$PIDS"
	fi
}

cmd_env() {
	printf "export CAUSEWAY_TEST_POSTGRES_URL='%s'\n" "$PG_URL"
	printf "export CAUSEWAY_DENDRITE_BIN='%s'\n" "$BIN/dendrite"
	printf "export CAUSEWAY_STACK_BIN='%s'\n" "$BIN"
	printf "export CAUSEWAY_ERGO_BIN='%s'\n" "$BIN/ergo"
	printf "export CAUSEWAY_ERGO_DEFAULT_CONFIG='%s'\n" "$BIN/ergo.default.yaml"
	printf "export CAUSEWAY_INSPIRCD_BIN='%s'\n" "$INSPIRCD_BIN"
	printf "export CAUSEWAY_PROSODY_BIN='%s'\n" "$PROSODY_BIN"
	printf "export CAUSEWAY_EJABBERDCTL_BIN='%s'\n" "$EJABBERDCTL_BIN"
}

cmd_status() {
	local s pid
	for s in "${SERVERS[@]}"; do
		if [[ $s == postgres ]]; then
			if pg_isready -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; then echo "postgres: up"; else echo "postgres: down"; fi
		elif pid=$(recorded_pid "$s"); then
			echo "$s: up (pid $pid)"
		else
			echo "$s: down"
		fi
	done
}

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

main() {
	local cmd=${1:-}
	(($#)) && shift
	case $cmd in
	install) cmd_install "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	env) cmd_env "$@" ;;
	status) cmd_status "$@" ;;
	-h | --help | help) usage ;;
	*) usage >&2; exit 2 ;;
	esac
}

main "$@"
