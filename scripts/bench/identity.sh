#!/usr/bin/env bash
# scripts/bench/identity.sh: identity performance of the real gostack process, and of
# Debian 12's Keystone as the anchor, measured over HTTP on loopback.
#
#   scripts/bench/identity.sh [TARGET...]     TARGET: gostack (default), keystone, keystone-pg
#
# For each target it measures
#   start       time from exec to the first 200 on GET /v3: cold (empty data dir/database,
#               so including bootstrap and its bcrypt hashes) and warm (restart on the same
#               data), $START_RUNS runs each, median
#   memory      resident memory 5 s after start and after the load (VmRSS from
#               /proc/PID/status, summed over the server's processes; PSS as well)
#   validate    GET /v3/auth/tokens?nocatalog, X-Auth-Token admin, X-Subject-Token demo:
#               p50/p99 with 1 client, throughput with 8 and 32 clients
#   issue       POST /v3/auth/tokens, password, project-scoped (demo): throughput and p50
#               with 1 and 4 clients (bcrypt cost 12 on both sides)
#   create      POST /v3/projects, $PROJECTS times from one client, on the fresh server
#   list        GET /v3/projects with those projects: p50
# Each load measurement runs $RUNS times for at most $SECONDS_PER_RUN s (and $MAX_REQUESTS
# requests); the table gives the median of the runs. Raw lines go to $BENCH_OUT. Next to
# wall-clock figures the script records the server's CPU time (utime + stime from
# /proc/PID/stat, all its processes) per request and up to the first 200 after a start:
# on a shared machine, other work inflates latency and cuts throughput, CPU time much less.
#
# gostack: bin/gostack (built here) or $GOSTACK_BIN, on a free loopback port with a temporary
# data directory. keystone: Debian's package as set up by keystone-setup.sh (SQLite);
# keystone-pg: the same on a throw-away PostgreSQL. The keystone targets need root, install
# the package when it is missing, use 127.0.0.1:5000 and stop uwsgi when done.
#
# Environment: RUNS (3), START_RUNS (3), SECONDS_PER_RUN (20), MAX_REQUESTS (1000000),
# PROJECTS (1000), BENCH_OUT (a new /tmp/gostack-bench.*), GOSTACK_BIN.
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$BENCH_DIR/../lib.sh"
. "$BENCH_DIR/keystone-setup.sh"

RUNS="${RUNS:-3}"
START_RUNS="${START_RUNS:-3}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-20}"
MAX_REQUESTS="${MAX_REQUESTS:-1000000}"
PROJECTS="${PROJECTS:-1000}"
BENCH_OUT="${BENCH_OUT:-$(mktemp -d /tmp/gostack-bench.XXXXXX)}"
mkdir -p "$BENCH_OUT"
ADMIN_PASSWORD=admin-secret
DEMO_PASSWORD=demo-secret
LOAD="$BENCH_OUT/load"
GOSTACK_VERSION="-"
HZ="$(getconf CLK_TCK)"

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(gostack)
for t in "${targets[@]}"; do
	case "$t" in
	gostack | keystone | keystone-pg) ;;
	*) die "unknown target $t (gostack, keystone, keystone-pg)" ;;
	esac
done

say "results in $BENCH_OUT"
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$ROOT" && go build -o "$LOAD" ./scripts/bench/load)

declare -A R # R[target.metric] = value

# field NAME: the value of NAME=... in the load line on stdin.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p"; }

# median: the median of the numbers on stdin, one per line.
median() {
	sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'
}

# ---------------------------------------------------------------------------------------
# Targets: each defines <f>_cold_start, <f>_warm_start (both set MS, the milliseconds to
# the first 200, URL and SERVER_PID), <f>_stop, <f>_pids, <f>_prepare (users) and
# <f>_cleanup. keystone and keystone-pg share the keystone_* functions.

GS_DATA=""
# gostack_exec [ARGS...]: start gostack up on the data dir with ARGS.
gostack_exec() {
	local t0 port
	port="$(free_port)"
	URL="http://127.0.0.1:$port"
	t0="$(date +%s%N)"
	"$GOSTACK_BIN" up --data-dir "$GS_DATA" --listen "127.0.0.1:$port" "$@" >>"$GS_DATA.log" 2>&1 &
	SERVER_PID=$!
	MS="$("$LOAD" wait -url "$URL/v3" -since "$t0" -pid "$SERVER_PID" -interval 2ms -timeout 600s)" || {
		tail -n 30 "$GS_DATA.log" >&2
		die "gostack did not start"
	}
	MS_CPU="$(awk -v t="$(cpu_ticks)" -v hz="$HZ" 'BEGIN {printf "%.0f", t * 1000 / hz}')"
}
gostack_cold_start() {
	[ -z "$GS_DATA" ] || rm -rf "$GS_DATA" "$GS_DATA.log"
	GS_DATA="$(mktemp -d /tmp/gostack-bench-data.XXXXXX)"
	gostack_exec --admin-password "$ADMIN_PASSWORD" --demo-password "$DEMO_PASSWORD"
}
# A restart is `gostack up` again: the passwords are in the data directory.
gostack_warm_start() { gostack_exec; }
# Given again on the command line, the passwords are re-applied (re-hashed) at every start,
# as keystone-manage bootstrap --bootstrap-password does.
gostack_warm_pw_start() { gostack_exec --admin-password "$ADMIN_PASSWORD" --demo-password "$DEMO_PASSWORD"; }
gostack_stop() {
	[ -n "${SERVER_PID:-}" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}
gostack_pids() { echo "$SERVER_PID"; }
gostack_prepare() { :; } # the bootstrap created admin and demo with these passwords
gostack_cleanup() {
	gostack_stop
	[ -z "$GS_DATA" ] || rm -rf "$GS_DATA" "$GS_DATA.log"
	GS_DATA=""
}

# Keystone's cold start is the whole first start: db_sync, fernet_setup, credential_setup,
# bootstrap (one bcrypt hash), then uwsgi up to the first 200.
keystone_cold_start() {
	ks_stop
	ks_reset_db
	local t0 b0 b1
	b0="$(children_ticks)"
	t0="$(date +%s%N)"
	ks_bootstrap
	b1="$(children_ticks)"
	ks_start_uwsgi
	SERVER_PID="$KS_PID"
	URL="$KS_URL"
	MS="$("$LOAD" wait -url "$URL/v3" -since "$t0" -pid "$SERVER_PID" -interval 2ms -timeout 600s)" ||
		die "keystone did not start; see /var/log/keystone/keystone.log"
	MS_CPU="$(awk -v t="$(cpu_ticks)" -v b=$((b1 - b0)) -v hz="$HZ" 'BEGIN {printf "%.0f", (t + b) * 1000 / hz}')"
}
keystone_warm_start() {
	ks_stop
	local t0
	t0="$(date +%s%N)"
	ks_start_uwsgi
	SERVER_PID="$KS_PID"
	URL="$KS_URL"
	MS="$("$LOAD" wait -url "$URL/v3" -since "$t0" -pid "$SERVER_PID" -interval 2ms -timeout 600s)" ||
		die "keystone did not start; see /var/log/keystone/keystone.log"
	MS_CPU="$(awk -v t="$(cpu_ticks)" -v hz="$HZ" 'BEGIN {printf "%.0f", t * 1000 / hz}')"
}
keystone_stop() {
	ks_stop
	SERVER_PID=""
}
keystone_pids() { ks_pids; }
# keystone_prepare creates what gostack's bootstrap creates and the benchmark uses: project
# demo and user demo with the member role on it.
keystone_prepare() {
	local tok pid uid rid
	tok="$(issue_token admin "$ADMIN_PASSWORD" admin)"
	pid="$(api POST /v3/projects "$tok" '{"project":{"name":"demo","domain_id":"default"}}' | json project.id)"
	uid="$(api POST /v3/users "$tok" "{\"user\":{\"name\":\"demo\",\"domain_id\":\"default\",\"password\":\"$DEMO_PASSWORD\",\"default_project_id\":\"$pid\"}}" | json user.id)"
	rid="$(api GET '/v3/roles?name=member' "$tok" | json roles.0.id)"
	api PUT "/v3/projects/$pid/users/$uid/roles/$rid" "$tok" >/dev/null
}
keystone_cleanup() { keystone_stop; }

# ---------------------------------------------------------------------------------------
# HTTP helpers (curl; JSON through python3).

# api METHOD PATH TOKEN [BODY]: the response body; fails on a status >= 400.
api() {
	local args=(-sS -f -X "$1" -H "X-Auth-Token: $3")
	[ -z "${4:-}" ] || args+=(-H 'Content-Type: application/json' -d "$4")
	curl "${args[@]}" "$URL$2"
}
# json PATH: the value at a dotted path (numbers index lists) of the JSON on stdin.
json() {
	python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$1"
}
password_body() { # USER PASSWORD PROJECT
	printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"%s","domain":{"id":"default"}}}}}' "$1" "$2" "$3"
}
# issue_token USER PASSWORD PROJECT: a project-scoped token.
issue_token() {
	curl -sS -f -o /dev/null -D - -H 'Content-Type: application/json' \
		-d "$(password_body "$1" "$2" "$3")" "$URL/v3/auth/tokens" |
		awk 'tolower($1) == "x-subject-token:" {print $2}' | tr -d '\r'
}

# memory PREFIX: record the summed VmRSS and PSS (MiB) of the server's processes.
memory() {
	local rss=0 pss=0 p v
	for p in $("${F}_pids"); do
		v="$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)"
		rss=$((rss + ${v:-0}))
		v="$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)"
		pss=$((pss + ${v:-0}))
	done
	R[$T.$1_rss]="$(awk -v k="$rss" 'BEGIN {printf "%.0f", k/1024}')"
	R[$T.$1_pss]="$(awk -v k="$pss" 'BEGIN {printf "%.0f", k/1024}')"
	R[$T.$1_procs]="$("${F}_pids" | wc -l)"
	echo "$T memory $1: rss=${R[$T.$1_rss]}MiB pss=${R[$T.$1_pss]}MiB processes=${R[$T.$1_procs]}" >>"$BENCH_OUT/raw.txt"
}

# children_ticks: the CPU time (clock ticks) of this shell's finished, waited-for children.
children_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }

# cpu_ticks: the CPU time (user + system, in clock ticks) the server's processes have used.
cpu_ticks() {
	local p
	for p in $("${F}_pids"); do
		# utime and stime are fields 14 and 15; the command name (field 2) has no spaces here.
		awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true
	done | awk '{s += $1} END {print s + 0}'
}

# loadrun NAME WARMUP ARGS...: run the load generator $RUNS times, each after WARMUP
# unmeasured requests, and keep its lines, each with
# the server's CPU time per successful request (cpu_ms=), which contention on a shared
# machine disturbs far less than latency and throughput.
loadrun() {
	local name="$1" warmup="$2" i line c0 c1 n
	shift 2
	: >"$BENCH_OUT/$T.$name"
	for i in $(seq 1 "$RUNS"); do
		# A run in which no request succeeded prints zeros and fails: keep going.
		[ "$warmup" = 0 ] || "$LOAD" -n "$warmup" -d 0 "$@" >/dev/null || true
		c0="$(cpu_ticks)"
		line="$("$LOAD" -n "$MAX_REQUESTS" -d "${SECONDS_PER_RUN}s" "$@")" || true
		c1="$(cpu_ticks)"
		n="$(field requests <<<"$line")"
		line+=" cpu_ms=$(awk -v d=$((c1 - c0)) -v n="${n:-0}" -v hz="$HZ" 'BEGIN {if (n > 0) printf "%.3f", d * 1000 / hz / n; else print "-"}')"
		echo "$line" >>"$BENCH_OUT/$T.$name"
		echo "$T $name run $i: $line loadavg=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" |
			tee -a "$BENCH_OUT/raw.txt" >&2
	done
}
# med NAME FIELD: the median of FIELD over the runs of NAME.
med() { field "$2" <"$BENCH_OUT/$T.$1" | median; }

# ---------------------------------------------------------------------------------------

# bench_target LABEL PREFIX: measure the target whose functions are PREFIX_*; the results
# are recorded under LABEL.
bench_target() {
	T="$1" F="$2"
	local i
	say "$T: start times ($START_RUNS cold, each followed by warm restarts)"
	: >"$BENCH_OUT/$T.cold"
	: >"$BENCH_OUT/$T.warm"
	: >"$BENCH_OUT/$T.cold_cpu"
	: >"$BENCH_OUT/$T.warm_cpu"
	rm -f "$BENCH_OUT/$T.warm_pw"
	for i in $(seq 1 "$START_RUNS"); do
		"${F}_cold_start"
		echo "$MS" >>"$BENCH_OUT/$T.cold"
		echo "$MS_CPU" >>"$BENCH_OUT/$T.cold_cpu"
		echo "$T cold start run $i: $MS ms, server CPU ${MS_CPU} ms, loadavg=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" | tee -a "$BENCH_OUT/raw.txt" >&2
		for _ in 1 2; do # a warm start right after the cold one, and another after it
			"${F}_stop"
			"${F}_warm_start"
			echo "$MS" >>"$BENCH_OUT/$T.warm"
			echo "$MS_CPU" >>"$BENCH_OUT/$T.warm_cpu"
			echo "$T warm start: $MS ms, server CPU ${MS_CPU} ms" | tee -a "$BENCH_OUT/raw.txt" >&2
		done
		if declare -F "${F}_warm_pw_start" >/dev/null; then
			"${F}_stop"
			"${F}_warm_pw_start"
			echo "$MS" >>"$BENCH_OUT/$T.warm_pw"
			echo "$T warm start, passwords given again: $MS ms" | tee -a "$BENCH_OUT/raw.txt" >&2
		fi
		[ "$i" = "$START_RUNS" ] || "${F}_stop"
	done
	R[$T.cold]="$(median <"$BENCH_OUT/$T.cold")"
	R[$T.warm]="$(median <"$BENCH_OUT/$T.warm")"
	R[$T.cold_cpu]="$(median <"$BENCH_OUT/$T.cold_cpu")"
	R[$T.warm_cpu]="$(median <"$BENCH_OUT/$T.warm_cpu")"
	[ ! -s "$BENCH_OUT/$T.warm_pw" ] || R[$T.warm_pw]="$(median <"$BENCH_OUT/$T.warm_pw")"

	sleep 5
	memory idle

	"${F}_prepare"
	local admin demo
	admin="$(issue_token admin "$ADMIN_PASSWORD" admin)"
	demo="$(issue_token demo "$DEMO_PASSWORD" demo)"
	[ -n "$admin" ] && [ -n "$demo" ] || die "$T: could not issue the admin and demo tokens"

	# The projects are created first, on the fresh server, from one client: Keystone on
	# SQLite under uwsgi's threads leaves SQLite connections open after concurrent requests
	# (its log: "SQLite objects created in a thread can only be used in that same thread"),
	# and every later write fails with "database is locked".
	say "$T: create $PROJECTS projects"
	local line
	line="$("$LOAD" -c 1 -n "$PROJECTS" -d 0 -expect 201 -method POST -url "$URL/v3/projects" \
		-H "X-Auth-Token: $admin" -body '{"project":{"name":"bench-{{seq}}","domain_id":"default"}}')"
	echo "$T create projects: $line" | tee -a "$BENCH_OUT/raw.txt" >&2
	R[$T.create_rps]="$(field rps <<<"$line")"
	R[$T.create_p50]="$(field p50_ms <<<"$line")"

	local c
	say "$T: token validation"
	for c in 1 8 32; do
		loadrun "validate.c$c" 20 -c "$c" -url "$URL/v3/auth/tokens?nocatalog" \
			-H "X-Auth-Token: $admin" -H "X-Subject-Token: $demo"
	done
	R[$T.validate_p50]="$(med validate.c1 p50_ms)"
	R[$T.validate_p99]="$(med validate.c1 p99_ms)"
	R[$T.validate_rps1]="$(med validate.c1 rps)"
	R[$T.validate_rps8]="$(med validate.c8 rps)"
	R[$T.validate_rps32]="$(med validate.c32 rps)"
	R[$T.validate_p50_32]="$(med validate.c32 p50_ms)"
	R[$T.validate_cpu1]="$(med validate.c1 cpu_ms)"
	R[$T.validate_cpu32]="$(med validate.c32 cpu_ms)"

	say "$T: password token issue"
	for c in 1 4; do
		loadrun "issue.c$c" 2 -c "$c" -expect 201 -method POST -url "$URL/v3/auth/tokens" \
			-body "$(password_body demo "$DEMO_PASSWORD" demo)"
	done
	R[$T.issue_rps1]="$(med issue.c1 rps)"
	R[$T.issue_p50_1]="$(med issue.c1 p50_ms)"
	R[$T.issue_rps4]="$(med issue.c4 rps)"
	R[$T.issue_p50_4]="$(med issue.c4 p50_ms)"
	R[$T.issue_cpu1]="$(med issue.c1 cpu_ms)"

	say "$T: list $PROJECTS projects"
	admin="$(issue_token admin "$ADMIN_PASSWORD" admin)"
	R[$T.projects]="$(api GET /v3/projects "$admin" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["projects"]))')"
	loadrun list 3 -c 1 -url "$URL/v3/projects" -H "X-Auth-Token: $admin"
	R[$T.list_p50]="$(med list p50_ms)"
	R[$T.list_p99]="$(med list p99_ms)"
	R[$T.list_cpu]="$(med list cpu_ms)"

	memory loaded
	"${F}_cleanup"
}

cleanup() {
	for t in "${targets[@]}"; do
		case "$t" in
		gostack) gostack_cleanup ;;
		*) keystone_cleanup 2>/dev/null || true ;;
		esac
	done
	[ -z "${KEYSTONE_DB_STARTED:-}" ] || ks_pg_stop
}
trap cleanup EXIT

for t in "${targets[@]}"; do
	case "$t" in
	gostack)
		if [ -z "${GOSTACK_BIN:-}" ]; then
			build_gostack
			# A copy, so that a rebuild of bin/gostack during the run changes nothing here.
			cp "$ROOT/bin/gostack" "$BENCH_OUT/gostack"
			GOSTACK_BIN="$BENCH_OUT/gostack"
			GOSTACK_VERSION="built from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
			[ -z "$(git -C "$ROOT" status --porcelain -- cmd internal go.mod go.sum 2>/dev/null)" ] ||
				GOSTACK_VERSION+=" with uncommitted changes"
		else
			GOSTACK_VERSION="$GOSTACK_BIN"
		fi
		bench_target gostack gostack
		;;
	keystone | keystone-pg)
		[ "$(id -u)" = 0 ] || die "the keystone targets need root"
		KEYSTONE_DB=sqlite
		if [ "$t" = keystone-pg ]; then
			KEYSTONE_DB=postgres
			KEYSTONE_DB_STARTED=1
		fi
		ks_install
		bench_target "$t" keystone
		[ "$KEYSTONE_DB" = sqlite ] || ks_pg_stop
		;;
	esac
done

# ---------------------------------------------------------------------------------------

row() { # LABEL METRIC
	local line="| $1 |" t
	for t in "${targets[@]}"; do line+=" ${R[$t.$2]:--} |"; done
	echo "$line"
}
{
	printf '\nidentity benchmark, %s, %s cores (%s), median of %s runs (starts: %s)\n' \
		"$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" "$RUNS" "$START_RUNS"
	printf 'load average at the start: %s; at the end: %s\n' "$LOADAVG_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf 'gostack %s; keystone %s\n\n' "$GOSTACK_VERSION" "$(dpkg-query -W -f '${Version}' keystone 2>/dev/null || echo -)"
	header="| measurement |" sep="|---|"
	for t in "${targets[@]}"; do
		header+=" $t |"
		sep+="---:|"
	done
	echo "$header"
	echo "$sep"
	row "cold start to first 200 on GET /v3 (ms)" cold
	row "warm start to first 200 on GET /v3 (ms)" warm
	row "warm start, bootstrap passwords given again (ms)" warm_pw
	row "cold start: server CPU time to first 200 (ms)" cold_cpu
	row "warm start: server CPU time to first 200 (ms)" warm_cpu
	row "processes" idle_procs
	row "RSS idle after start (MiB)" idle_rss
	row "PSS idle after start (MiB)" idle_pss
	row "RSS after the load (MiB)" loaded_rss
	row "PSS after the load (MiB)" loaded_pss
	row "validate token, 1 client: p50 (ms)" validate_p50
	row "validate token, 1 client: p99 (ms)" validate_p99
	row "validate token, 1 client (req/s)" validate_rps1
	row "validate token, 8 clients (req/s)" validate_rps8
	row "validate token, 32 clients (req/s)" validate_rps32
	row "validate token, 32 clients: p50 (ms)" validate_p50_32
	row "validate token: server CPU per request, 1 client (ms)" validate_cpu1
	row "validate token: server CPU per request, 32 clients (ms)" validate_cpu32
	row "issue password token, 1 client (req/s)" issue_rps1
	row "issue password token, 1 client: p50 (ms)" issue_p50_1
	row "issue password token, 4 clients (req/s)" issue_rps4
	row "issue password token, 4 clients: p50 (ms)" issue_p50_4
	row "issue password token: server CPU per request (ms)" issue_cpu1
	row "create project, 1 client (req/s)" create_rps
	row "create project, 1 client: p50 (ms)" create_p50
	row "projects listed" projects
	row "list projects, 1 client: p50 (ms)" list_p50
	row "list projects, 1 client: p99 (ms)" list_p99
	row "list projects: server CPU per request (ms)" list_cpu
} | tee "$BENCH_OUT/table.md"
