#!/usr/bin/env bash
# scripts/conformance/gophercloud.sh: run gophercloud's own acceptance tests (the Go SDK
# terraform uses) against gostack and print pass/fail/skip counts.
#
#   scripts/conformance/gophercloud.sh [PACKAGE...]
#
# A PACKAGE is an acceptance-test package of gophercloud, either short (identity/v3, image/v2:
# under internal/acceptance/openstack/) or a path relative to the gophercloud tree
# (./internal/acceptance/openstack/identity/v3/); the default is identity/v3 and image/v2,
# the services gostack has today. Counts are printed per package and in total.
# The module is copied out of the module cache to $GC_DIR (default: a new
# /tmp/gostack-gc.XXXXXX, removed at the end) and run from there: its code is never copied
# into this repository.
# The cloud under test is, in order: OS_AUTH_URL/OS_USERNAME/OS_PASSWORD... from the
# environment; GOSTACK_URL with GOSTACK_DATA_DIR's (default /var/lib/gostack) admin-openrc;
# otherwise a throw-away gostack started here (bin/gostack, built first, or $GOSTACK_BIN)
# and stopped at the end.
#
# Environment: GOPHERCLOUD_VERSION (v2.15.0), GC_DIR (kept when given), GC_RUN (a go test -run
# regex), GOPHERCLOUD_STRICT=1 (exit non-zero when a test fails), GOPHERCLOUD_SEED_IMAGE=0
# (do not upload the public testvm image the gostack started here otherwise gets, as
# DevStack has CirrOS).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

VERSION="${GOPHERCLOUD_VERSION:-v2.15.0}"
GC_DIR="${GC_DIR:-}"
ARGS=("$@")
[ "${#ARGS[@]}" -gt 0 ] || ARGS=(identity/v3 image/v2)
PKGS=()
for p in "${ARGS[@]}"; do
	case "$p" in
	./* | internal/*) PKGS+=("./${p#./}") ;;
	*) PKGS+=("./internal/acceptance/openstack/${p%/}/") ;;
	esac
done

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
	# The simulated compute driver: the suite checks the API, not guests.
	GOSTACK_TOML="${GOSTACK_TOML:-}
[compute]
driver = 'fake'"
	export GOSTACK_TOML
	start_gostack
	load_openrc "$GOSTACK_DATA_DIR/admin-openrc"
	# Some image tests (TestImagesListByDate) expect the cloud to have an image, as DevStack
	# has CirrOS; GOPHERCLOUD_SEED_IMAGE=0 leaves the new cloud empty.
	if [ "${GOPHERCLOUD_SEED_IMAGE:-1}" = 1 ]; then
		seed_image >/dev/null
	fi
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
# The compute suite wants an image and two flavors (DevStack's m1.nano and m1.micro).
if [ -z "${OS_IMAGE_ID:-}" ] && command -v openstack >/dev/null; then
	OS_IMAGE_ID="$(openstack image list --name testvm -f value -c ID 2>/dev/null | head -n 1 || true)"
fi
export OS_IMAGE_ID="${OS_IMAGE_ID:-}" OS_FLAVOR_ID="${OS_FLAVOR_ID:-42}" OS_FLAVOR_ID_RESIZE="${OS_FLAVOR_ID_RESIZE:-84}"
# Networking: servers go on DevStack's private network; floating IPs come from public.
if [ -z "${OS_EXTGW_ID:-}" ] && command -v openstack >/dev/null; then
	OS_EXTGW_ID="$(openstack network list --external --name public -f value -c ID 2>/dev/null | head -n 1 || true)"
fi
export OS_EXTGW_ID="${OS_EXTGW_ID:-}" OS_POOL_NAME="${OS_POOL_NAME:-public}" OS_NETWORK_NAME="${OS_NETWORK_NAME:-private}"

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
PREFIX = "github.com/gophercloud/gophercloud/v2/"
final = {}                       # (package, test) -> pass/fail/skip
pkg_result = {}                  # package -> pass/fail/skip of the package itself
output = collections.defaultdict(list)
pkg_output = collections.defaultdict(list)
build_errors = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        build_errors.append(line)
        continue
    e = json.loads(line)
    pkg = e.get("Package", "")
    pkg = pkg[len(PREFIX):] if pkg.startswith(PREFIX) else pkg
    pkg = pkg.replace("internal/acceptance/openstack/", "")
    t = e.get("Test")
    act = e.get("Action")
    if not t:
        if act == "output":
            pkg_output[pkg].append(e["Output"])
            if "[build failed]" in e.get("Output", ""):
                build_errors.append(e["Output"].strip())
        elif act in ("pass", "fail", "skip"):
            pkg_result[pkg] = act
        continue
    if act == "output":
        output[(pkg, t)].append(e["Output"])
    elif act in ("pass", "fail", "skip"):
        final[(pkg, t)] = act
# Count top-level tests only; subtests are part of their parent.
top = {k: s for k, s in final.items() if "/" not in k[1]}
pkgs = sorted(set(pkg_result) | {p for p, _ in top})
total = collections.Counter(top.values())
for p in pkgs:
    c = collections.Counter(s for (pp, _), s in top.items() if pp == p)
    n = sum(c.values())
    note = ""
    if pkg_result.get(p) == "fail" and not c["fail"]:
        # The package failed outside any test: build error, panic or timeout.
        tail = [l.strip() for l in pkg_output[p] if l.strip()][-3:]
        note = "  (package failed outside its tests: %s)" % " | ".join(tail)
    print("gophercloud %-12s %3d tests: pass=%d fail=%d skip=%d%s" % (p, n, c["pass"], c["fail"], c["skip"], note))
print("gophercloud acceptance: %d tests: pass=%d fail=%d skip=%d"
      % (len(top), total["pass"], total["fail"], total["skip"]))
ansi = re.compile(r"\x1b\[[0-9;]*m")
for (p, t) in sorted(k for k, s in top.items() if s == "fail"):
    lines = [ansi.sub("", l).strip() for l in output[(p, t)]]
    lines = [l for l in lines if l and not l.startswith(("=== ", "--- "))]
    # The assertion message is the useful part; fall back to the last lines.
    why = [l for l in lines if re.search(r"Failure in|Error|panic:|Unable to", l)] or lines[-3:]
    print("FAIL %s %s" % (p, t))
    for l in why[:3]:
        print("     " + l[:400])
for l in build_errors[:20]:
    print(l)
PY
say "full output: $out"
if [ "${GOPHERCLOUD_STRICT:-0}" = 1 ]; then
	exit "$rc"
fi
