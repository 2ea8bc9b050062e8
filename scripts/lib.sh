# scripts/lib.sh: shared by the scripts in this directory; source it, don't run it.
#
# Sets ROOT (the repository), puts a Go >= 1.26 on PATH (/usr/local/go/bin is added when
# `go` is missing there) and defines helpers to start and stop a throw-away gostack.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case ":$PATH:" in
*:/usr/local/go/bin:*) ;;
*) command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin" ;;
esac
export PATH

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# free_port prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# build_gostack builds bin/gostack (go's build cache makes this cheap when nothing changed).
build_gostack() {
	(cd "$ROOT" && go build -o bin/gostack ./cmd/gostack)
}

# start_gostack starts bin/gostack up in a fresh temporary data directory on a free port,
# waits until GET /v3 answers 200 and sets GOSTACK_PID, GOSTACK_URL and GOSTACK_DATA_DIR.
# stop_gostack (registered with trap by the caller) stops it by PID. Extra arguments are
# passed to gostack up; $GOSTACK_TOML, when set, is written to the data directory's
# gostack.toml first.
start_gostack() {
	build_gostack
	GOSTACK_DATA_DIR="$(mktemp -d /tmp/gostack-conformance.XXXXXX)"
	local port
	port="$(free_port)"
	GOSTACK_URL="http://127.0.0.1:$port"
	if [ -n "${GOSTACK_TOML:-}" ]; then
		printf '%s\n' "$GOSTACK_TOML" >"$GOSTACK_DATA_DIR/gostack.toml"
	fi
	say "starting gostack on $GOSTACK_URL (data dir $GOSTACK_DATA_DIR)"
	"$ROOT/bin/gostack" up --data-dir "$GOSTACK_DATA_DIR" --listen "127.0.0.1:$port" \
		--admin-password "${GOSTACK_ADMIN_PASSWORD:-admin-secret}" \
		--demo-password "${GOSTACK_DEMO_PASSWORD:-demo-secret}" "$@" \
		>"$GOSTACK_DATA_DIR/gostack.log" 2>&1 &
	GOSTACK_PID=$!
	local i
	for i in $(seq 1 300); do
		if ! kill -0 "$GOSTACK_PID" 2>/dev/null; then
			tail -n 40 "$GOSTACK_DATA_DIR/gostack.log" >&2
			die "gostack exited before it was ready"
		fi
		if [ "$(curl -s -o /dev/null -w '%{http_code}' "$GOSTACK_URL/v3")" = 200 ]; then
			export GOSTACK_URL GOSTACK_PID GOSTACK_DATA_DIR
			return 0
		fi
		sleep 0.1
	done
	tail -n 40 "$GOSTACK_DATA_DIR/gostack.log" >&2
	die "gostack did not answer GET /v3 within 30 s"
}

# stop_gostack stops the gostack started by start_gostack (SIGTERM, then SIGKILL after 15 s).
stop_gostack() {
	[ -n "${GOSTACK_PID:-}" ] || return 0
	kill -TERM "$GOSTACK_PID" 2>/dev/null || return 0
	local i
	for i in $(seq 1 150); do
		kill -0 "$GOSTACK_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$GOSTACK_PID" 2>/dev/null || true
	wait "$GOSTACK_PID" 2>/dev/null || true
	say "stopped gostack (pid $GOSTACK_PID); its log: $GOSTACK_DATA_DIR/gostack.log"
	GOSTACK_PID=
}

# load_openrc exports the variables of an openrc file (clearing other OS_* first).
load_openrc() {
	local v
	for v in $(compgen -e | grep '^OS_' || true); do unset "$v"; done
	# shellcheck disable=SC1090
	. "$1"
}
