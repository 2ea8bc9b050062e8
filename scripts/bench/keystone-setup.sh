#!/usr/bin/env bash
# scripts/bench/keystone-setup.sh: Debian 12's own Keystone, set up the way the package sets
# it up, as the anchor for scripts/bench/identity.sh. Benchmark use only (root, Debian 12);
# not part of CI.
#
#   keystone-setup.sh install         apt-get install keystone, point it at a database
#   keystone-setup.sh start           first start: empty database, keystone-manage db_sync,
#                                     fernet_setup, credential_setup, bootstrap, then start
#                                     uwsgi; prints the URL and the admin credentials
#   keystone-setup.sh stop            stop the uwsgi master (by the PID in its pid file)
#   keystone-setup.sh clean           stop, remove the databases and keys, restore keystone.conf
#
# KEYSTONE_DB=sqlite (default) or postgres. With postgres, a throw-away PostgreSQL 15 cluster
# is created in $KS_PG_DIR (default /tmp/keystone-bench-pg) on a free loopback port and
# stopped by `stop`/`clean`; the machine's own PostgreSQL is not touched.
#
# What Debian does and what this script changes (bookworm, keystone 2:22.0.2, i.e. Zed):
#  - The package installs /etc/keystone/keystone.conf with no [database] connection (its
#    debconf question keystone/configure_db defaults to false) and the uwsgi configuration
#    /etc/keystone/keystone-uwsgi.ini: 8 processes x 32 threads, lazy-apps, thunder-lock,
#    master, the apparmor plugin. /etc/init.d/keystone runs
#      uwsgi_python311 --http-socket :5000 --ini /etc/keystone/keystone-uwsgi.ini
#    through start-stop-daemon as user keystone with the pid file
#    /var/run/keystone/keystone.pid. Tokens are Fernet (the default provider); passwords are
#    bcrypt with passlib's default of 12 rounds ([identity] password_hash_rounds unset);
#    no cache ([cache] enabled defaults to false); no memcached.
#  - This script sets [database] connection (SQLite file /var/lib/keystone/keystone.sqlite,
#    or the throw-away PostgreSQL) and nothing else in keystone.conf.
#  - It starts uwsgi with exactly the init script's start-stop-daemon command line except
#    that the socket is 127.0.0.1:5000 instead of :5000, so that nothing listens beyond
#    loopback. `stop` is the init script's own stop (TERM by the pid file).
#  - The first start runs what the package's postinst runs when asked to configure a
#    database and an admin (db_sync, fernet_setup, credential_setup, bootstrap), as user
#    keystone, with the admin password $KS_ADMIN_PASSWORD and the endpoints at
#    http://127.0.0.1:5000/v3 in RegionOne.
#
# Sourced by identity.sh for the functions ks_*; run directly for the commands above.

KS_PORT=5000
KS_URL="http://127.0.0.1:$KS_PORT"
KS_CONF=/etc/keystone/keystone.conf
KS_PIDFILE=/var/run/keystone/keystone.pid
KS_SQLITE=/var/lib/keystone/keystone.sqlite
KS_ADMIN_PASSWORD="${KS_ADMIN_PASSWORD:-admin-secret}"
KEYSTONE_DB="${KEYSTONE_DB:-sqlite}"
KS_PG_DIR="${KS_PG_DIR:-/tmp/keystone-bench-pg}"
KS_PG_BIN=/usr/lib/postgresql/15/bin

ks_say() { printf '==> %s\n' "$*" >&2; }
ks_die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# ks_manage runs a keystone-manage command as user keystone, hiding the harmless eventlet
# traceback Python prints at exit ("Exception ignored in: <function _removeHandlerRef").
ks_manage() {
	local out
	if ! out="$(cd /var/lib/keystone && su keystone -s /bin/sh -c "$*" 2>&1)"; then
		printf '%s\n' "$out" >&2
		ks_die "failed: $*"
	fi
}

# ks_install installs the Debian package (and, for postgres, the driver and the server
# binaries) and writes the [database] connection into keystone.conf, keeping the package's
# file as keystone.conf.bench-orig.
ks_install() {
	local pkgs=(keystone python3-keystone)
	[ "$KEYSTONE_DB" = postgres ] && pkgs+=(python3-psycopg2 postgresql-15)
	if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
		ks_say "apt-get install ${pkgs[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >&2
	fi
	[ -f "$KS_CONF.bench-orig" ] || cp -p "$KS_CONF" "$KS_CONF.bench-orig"
	local conn
	case "$KEYSTONE_DB" in
	sqlite) conn="sqlite:///$KS_SQLITE" ;;
	postgres)
		ks_pg_start
		conn="postgresql+psycopg2://keystone:keystone-bench@127.0.0.1:$(cat "$KS_PG_DIR/port")/keystone"
		;;
	*) ks_die "KEYSTONE_DB must be sqlite or postgres" ;;
	esac
	python3 - "$KS_CONF" "$conn" <<'EOF'
import re, sys
path, conn = sys.argv[1], sys.argv[2]
mark = '# set by scripts/bench/keystone-setup.sh\n'
text = open(path).read()
text = re.sub('(?m)^' + re.escape(mark) + 'connection = .*\n', '', text)
text = text.replace('[database]\n', '[database]\n' + mark + 'connection = ' + conn + '\n', 1)
open(path, 'w').write(text)
EOF
	ks_say "keystone.conf [database] connection = $conn"
}

# ks_pg_start creates (once) and starts a throw-away PostgreSQL 15 cluster on a free
# loopback port, owned by user postgres, with a keystone role and database.
ks_pg_start() {
	if [ ! -f "$KS_PG_DIR/data/PG_VERSION" ]; then
		mkdir -p "$KS_PG_DIR"
		chown postgres:postgres "$KS_PG_DIR"
		su postgres -s /bin/sh -c "$KS_PG_BIN/initdb -D $KS_PG_DIR/data -A trust -U postgres" >/dev/null
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$KS_PG_DIR/port"
	fi
	local port
	port="$(cat "$KS_PG_DIR/port")"
	if ! su postgres -s /bin/sh -c "$KS_PG_BIN/pg_ctl -D $KS_PG_DIR/data status" >/dev/null 2>&1; then
		su postgres -s /bin/sh -c "$KS_PG_BIN/pg_ctl -D $KS_PG_DIR/data -l $KS_PG_DIR/log -w \
			-o \"-c listen_addresses=127.0.0.1 -p $port -k $KS_PG_DIR\" start" >/dev/null
	fi
	su postgres -s /bin/sh -c "$KS_PG_BIN/psql -h 127.0.0.1 -p $port -U postgres -qtAc \
		\"select 1 from pg_roles where rolname='keystone'\"" | grep -q 1 ||
		su postgres -s /bin/sh -c "$KS_PG_BIN/psql -h 127.0.0.1 -p $port -U postgres -qc \
			\"create role keystone login password 'keystone-bench'\""
}

# ks_pg_stop stops the throw-away cluster (pg_ctl signals the postmaster by its pid file).
ks_pg_stop() {
	[ -f "$KS_PG_DIR/data/postmaster.pid" ] || return 0
	su postgres -s /bin/sh -c "$KS_PG_BIN/pg_ctl -D $KS_PG_DIR/data -m fast -w stop" >/dev/null 2>&1 || true
}

# ks_reset_db empties the database and removes the fernet and credential keys.
ks_reset_db() {
	rm -rf /etc/keystone/fernet-keys /etc/keystone/credential-keys
	case "$KEYSTONE_DB" in
	sqlite) rm -f "$KS_SQLITE" ;;
	postgres)
		local port
		port="$(cat "$KS_PG_DIR/port")"
		su postgres -s /bin/sh -c "PGOPTIONS='-c client_min_messages=warning' $KS_PG_BIN/psql -h 127.0.0.1 -p $port -U postgres -qc 'drop database if exists keystone'"
		su postgres -s /bin/sh -c "$KS_PG_BIN/psql -h 127.0.0.1 -p $port -U postgres -qc 'create database keystone owner keystone'"
		;;
	esac
}

# ks_bootstrap runs what the package's postinst runs for a new database and admin.
ks_bootstrap() {
	ks_manage "keystone-manage db_sync"
	mkdir -p /etc/keystone/fernet-keys
	chown keystone:keystone /etc/keystone/fernet-keys
	chmod 700 /etc/keystone/fernet-keys
	ks_manage "keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone"
	ks_manage "keystone-manage credential_setup --keystone-user keystone --keystone-group keystone"
	ks_manage "OS_BOOTSTRAP_PASSWORD='$KS_ADMIN_PASSWORD' keystone-manage bootstrap \
		--bootstrap-username admin --bootstrap-project-name admin \
		--bootstrap-role-name admin --bootstrap-service-name keystone \
		--bootstrap-region-id RegionOne --bootstrap-public-url $KS_URL/v3 \
		--bootstrap-internal-url $KS_URL/v3 --bootstrap-admin-url $KS_URL/v3"
}

# ks_start_uwsgi starts uwsgi as /etc/init.d/keystone start does (same start-stop-daemon
# call, user, pid file and --ini), bound to 127.0.0.1 only, and sets KS_PID to the master.
ks_start_uwsgi() {
	if (exec 3<>"/dev/tcp/127.0.0.1/$KS_PORT") 2>/dev/null; then
		ks_die "something already listens on 127.0.0.1:$KS_PORT"
	fi
	local i
	for i in lock run cache; do
		mkdir -p "/var/$i/keystone"
		chown keystone:keystone "/var/$i/keystone"
	done
	start-stop-daemon --start --quiet --background --chuid keystone:keystone \
		--make-pidfile --pidfile "$KS_PIDFILE" --chdir /var/lib/keystone \
		--startas /usr/bin/uwsgi_python311 -- \
		--http-socket "127.0.0.1:$KS_PORT" --ini /etc/keystone/keystone-uwsgi.ini ||
		ks_die "start-stop-daemon could not start uwsgi (already running?)"
	for i in $(seq 1 50); do
		[ -s "$KS_PIDFILE" ] && break
		sleep 0.01
	done
	KS_PID="$(cat "$KS_PIDFILE")"
}

# ks_stop stops uwsgi with the init script (TERM to the PID in the pid file, KILL after 30 s)
# and waits until the port is free.
ks_stop() {
	[ -s "$KS_PIDFILE" ] || return 0
	/etc/init.d/keystone stop >/dev/null || true
	local i
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$KS_PORT") 2>/dev/null || return 0
		sleep 0.1
	done
}

# ks_pids prints the uwsgi master's PID and its workers' PIDs.
ks_pids() {
	[ -n "${KS_PID:-}" ] || return 0
	echo "$KS_PID"
	ps -o pid= --ppid "$KS_PID" | tr -d ' '
}

# ks_wait_ready waits until GET /v3 answers 200.
ks_wait_ready() {
	local i
	for i in $(seq 1 1200); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$KS_URL/v3")" = 200 ] && return 0
		kill -0 "$KS_PID" 2>/dev/null || ks_die "uwsgi exited; see /var/log/keystone/keystone.log"
		sleep 0.1
	done
	ks_die "keystone did not answer GET /v3 within 120 s"
}

# ks_clean stops uwsgi and the throw-away PostgreSQL, removes the databases and keys and
# puts the package's keystone.conf back. The package stays installed.
ks_clean() {
	ks_stop
	ks_pg_stop
	rm -rf "$KS_PG_DIR"
	rm -f "$KS_SQLITE"
	rm -rf /etc/keystone/fernet-keys /etc/keystone/credential-keys
	if [ -f "$KS_CONF.bench-orig" ]; then
		cp -p "$KS_CONF.bench-orig" "$KS_CONF"
		rm -f "$KS_CONF.bench-orig"
	fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	[ "$(id -u)" = 0 ] || ks_die "run as root"
	case "${1:-}" in
	install) ks_install ;;
	start)
		ks_install
		ks_stop
		ks_reset_db
		ks_bootstrap
		ks_start_uwsgi
		ks_wait_ready
		ks_say "keystone (uwsgi master pid $KS_PID) answers on $KS_URL/v3"
		printf 'export OS_AUTH_URL=%s/v3 OS_USERNAME=admin OS_PASSWORD=%s OS_PROJECT_NAME=admin\n' "$KS_URL" "$KS_ADMIN_PASSWORD"
		printf 'export OS_USER_DOMAIN_ID=default OS_PROJECT_DOMAIN_ID=default OS_IDENTITY_API_VERSION=3\n'
		;;
	stop)
		ks_stop
		[ "$KEYSTONE_DB" = postgres ] && ks_pg_stop
		true
		;;
	clean) ks_clean ;;
	*)
		sed -n '2,15p' "$0" >&2
		exit 2
		;;
	esac
fi
