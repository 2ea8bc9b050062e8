#!/usr/bin/env bash
# scripts/conformance/gophercloud.sh: run gophercloud's own acceptance tests (the Go SDK
# terraform uses) against gostack and print pass/fail/skip counts.
#
#   scripts/conformance/gophercloud.sh [PACKAGE...]
#
# PACKAGE defaults to ./internal/acceptance/openstack/identity/v3/ (relative to the
# gophercloud tree). The module is copied out of the module cache to $GC_DIR (default: a
# new /tmp/gostack-gc.XXXXXX, removed at the end) and run from there: its code is never
# copied into this repository.
# The cloud under test is, in order: OS_AUTH_URL/OS_USERNAME/OS_PASSWORD... from the
# environment; GOSTACK_URL with GOSTACK_DATA_DIR's (default /var/lib/gostack) admin-openrc;
# otherwise a throw-away gostack started here and stopped at the end.
#
# Environment: GOPHERCLOUD_VERSION (v2.15.0), GC_DIR (kept when given), GC_RUN (a go test -run
# regex), GOPHERCLOUD_STRICT=1 (exit non-zero when a test fails).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

VERSION="${GOPHERCLOUD_VERSION:-v2.15.0}"
GC_DIR="${GC_DIR:-}"
PKGS=("$@")
[ "${#PKGS[@]}" -gt 0 ] || PKGS=(./internal/acceptance/openstack/identity/v3/)

cleanup() {
	stop_gostack
	[ -z "${GC_TMP:-}" ] || rm -rf "$GC_TMP"
}
trap cleanup EXIT
if [ -z "$GC_DIR" ]; then
	GC_TMP="$(mktemp -d /tmp/gostack-gc.XXXXXX)"
	GC_DIR="$GC_TMP/gophercloud"
fi

if [ -n "${OS_AUTH_URL:-}" ] && [ -n "${OS_PASSWORD:-}" ]; then
	say "using the cloud at $OS_AUTH_URL from the environment"
elif [ -n "${GOSTACK_URL:-}" ]; then
	load_openrc "${GOSTACK_DATA_DIR:-/var/lib/gostack}/admin-openrc"
	export OS_AUTH_URL="${GOSTACK_URL%/}/v3"
	say "using gostack at $GOSTACK_URL"
else
	start_gostack
	load_openrc "$GOSTACK_DATA_DIR/admin-openrc"
fi
# gophercloud reads OS_DOMAIN_ID/NAME for the user's domain and, with OS_PROJECT_NAME,
# scopes to that project in the same domain. Admin-only tests run only when OS_USERNAME
# is literally "admin"; OS_BRANCH=master enables the tests gated on a release.
if [ -z "${OS_DOMAIN_ID:-}" ] && [ -z "${OS_DOMAIN_NAME:-}" ]; then
	if [ -n "${OS_USER_DOMAIN_ID:-}" ]; then export OS_DOMAIN_ID="$OS_USER_DOMAIN_ID"
	elif [ -n "${OS_USER_DOMAIN_NAME:-}" ]; then export OS_DOMAIN_NAME="$OS_USER_DOMAIN_NAME"
	else export OS_DOMAIN_ID=default
	fi
fi
export OS_BRANCH="${OS_BRANCH:-master}" OS_REGION_NAME="${OS_REGION_NAME:-RegionOne}"

say "copying gophercloud $VERSION to $GC_DIR"
src="$(cd "$ROOT" && go mod download -json "github.com/gophercloud/gophercloud/v2@$VERSION" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
[ -d "$src" ] || die "gophercloud $VERSION not in the module cache"
rm -rf "$GC_DIR"
cp -r "$src" "$GC_DIR"
chmod -R u+w "$GC_DIR"

out="$(mktemp /tmp/gophercloud-acceptance.XXXXXX.json)"
say "go test -tags 'fixtures acceptance' ${PKGS[*]} (output: $out)"
set +e
(cd "$GC_DIR" && GOFLAGS=-mod=mod go test -count=1 -p 1 -timeout 30m -tags "fixtures acceptance" -json \
	${GC_RUN:+-run "$GC_RUN"} "${PKGS[@]}") >"$out"
rc=$?
set -e

python3 - "$out" <<'PY'
import json, re, sys, collections
final = {}
output = collections.defaultdict(list)
build_errors = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        build_errors.append(line)
        continue
    e = json.loads(line)
    t = e.get("Test")
    if not t:
        if e.get("Action") == "output" and "FAIL" in e.get("Output", "") and "[build failed]" in e.get("Output", ""):
            build_errors.append(e["Output"].strip())
        continue
    if e["Action"] == "output":
        output[t].append(e["Output"])
    elif e["Action"] in ("pass", "fail", "skip"):
        final[t] = e["Action"]
# Count top-level tests only; subtests are part of their parent.
top = {t: s for t, s in final.items() if "/" not in t}
c = collections.Counter(top.values())
print("gophercloud acceptance: %d tests: pass=%d fail=%d skip=%d"
      % (len(top), c["pass"], c["fail"], c["skip"]))
ansi = re.compile(r"\x1b\[[0-9;]*m")
for t in sorted(t for t, s in top.items() if s == "fail"):
    lines = [ansi.sub("", l).strip() for l in output[t]]
    lines = [l for l in lines if l and not l.startswith(("=== ", "--- "))]
    # The assertion message is the useful part; fall back to the last lines.
    why = [l for l in lines if re.search(r"Failure in|Error|panic:|Unable to", l)] or lines[-3:]
    print("FAIL " + t)
    for l in why[:3]:
        print("     " + l[:400])
for l in build_errors[:20]:
    print(l)
PY
say "full output: $out"
if [ "${GOPHERCLOUD_STRICT:-0}" = 1 ]; then
	exit "$rc"
fi
