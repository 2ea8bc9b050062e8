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

# start_gostack starts bin/gostack up (built first), or $GOSTACK_BIN when it is set (not
# built), in a fresh temporary data directory on a free port, waits until GET /v3 answers
# 200 and sets GOSTACK_PID, GOSTACK_URL and GOSTACK_DATA_DIR.
# stop_gostack (registered with trap by the caller) stops it by PID. Extra arguments are
# passed to gostack up; $GOSTACK_TOML, when set, is written to the data directory's
# gostack.toml first.
start_gostack() {
	local bin="${GOSTACK_BIN:-}"
	if [ -n "$bin" ]; then
		[ -x "$bin" ] || die "GOSTACK_BIN=$bin is not an executable file"
		say "using $bin (GOSTACK_BIN)"
	else
		build_gostack
		bin="$ROOT/bin/gostack"
	fi
	GOSTACK_DATA_DIR="$(mktemp -d /tmp/gostack-conformance.XXXXXX)"
	local port
	port="$(free_port)"
	GOSTACK_URL="http://127.0.0.1:$port"
	if [ -n "${GOSTACK_TOML:-}" ]; then
		printf '%s\n' "$GOSTACK_TOML" >"$GOSTACK_DATA_DIR/gostack.toml"
	fi
	say "starting gostack on $GOSTACK_URL (data dir $GOSTACK_DATA_DIR)"
	"$bin" up --data-dir "$GOSTACK_DATA_DIR" --listen "127.0.0.1:$port" \
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

# seed_image uploads a public image named testvm as the admin of the loaded openrc, as
# DevStack uploads CirrOS, for suites that expect a cloud to have an image. The data is the
# test guest (images/testvm/build.sh, built once and cached) or, when it cannot be built
# here, an empty qcow2 from qemu-img create. Prints the image id.
seed_image() {
	local file note
	if file="$("$ROOT/images/testvm/build.sh" 2>/dev/null | tail -n 1)" && [ -f "$file" ]; then
		note="testvm guest $file"
	else
		command -v qemu-img >/dev/null || die "cannot build the testvm image and qemu-img is missing"
		file="$GOSTACK_DATA_DIR/seed.qcow2"
		qemu-img create -q -f qcow2 "$file" 64M
		note="an empty qcow2 (images/testvm/build.sh cannot build here)"
	fi
	say "uploading a public image testvm: $note"
	python3 - "$file" <<'PY'
import json, os, sys, urllib.request
auth, region = os.environ["OS_AUTH_URL"].rstrip("/"), os.environ.get("OS_REGION_NAME", "RegionOne")
dom = lambda k: {"id": os.environ[k + "_ID"]} if os.environ.get(k + "_ID") else {"name": os.environ.get(k + "_NAME", "Default")}
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": os.environ["OS_USERNAME"], "password": os.environ["OS_PASSWORD"], "domain": dom("OS_USER_DOMAIN")}}},
    "scope": {"project": {"name": os.environ["OS_PROJECT_NAME"], "domain": dom("OS_PROJECT_DOMAIN")}}}}
req = urllib.request.Request(auth + "/auth/tokens", json.dumps(body).encode(), {"Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    token, catalog = r.headers["X-Subject-Token"], json.load(r)["token"]["catalog"]
image = next(e["url"] for s in catalog if s["type"] == "image" for e in s["endpoints"]
             if e["interface"] == "public" and e.get("region", region) == region).rstrip("/")
h = {"X-Auth-Token": token, "Content-Type": "application/json"}
req = urllib.request.Request(image + "/v2/images", json.dumps({"name": "testvm", "disk_format": "qcow2",
    "container_format": "bare", "visibility": "public", "min_ram": 128}).encode(), h)
with urllib.request.urlopen(req) as r:
    iid = json.load(r)["id"]
with open(sys.argv[1], "rb") as f:
    req = urllib.request.Request(image + "/v2/images/%s/file" % iid, f, method="PUT", headers={
        "X-Auth-Token": token, "Content-Type": "application/octet-stream",
        "Content-Length": str(os.fstat(f.fileno()).st_size)})
    urllib.request.urlopen(req).close()
print(iid)
PY
}
