#!/bin/bash
# The packaging tests: build the .deb and the .rpm once, then run each scenario
# (tests/packaging/pkg_*.sh) against them; scripts/test.sh runs this after CTest.
#
#   tests/packaging/run.sh [BUILD_DIR]      (default: $MF_BUILD_DIR, else build-test)
#
# BUILD_DIR is a configured build tree of this checkout: the scenarios take the
# list of programs built there as the programs the packages must hold, and run
# the entrypoint against its meta-fuse.  The packages themselves are built from
# scratch (packaging/build-deb, build-rpm) in a temporary directory.
# MF_PKG_CONTAINER=0 skips the container scenario (mmdebstrap downloads ~70 MB
# from Debian's archive).  A scenario exits 77 when it cannot run here, with
# the reason; any failure fails the run.
set -u
cd "$(dirname "$0")/../.."
src=$(pwd)
build=${1:-${MF_BUILD_DIR:-build-test}}
[ -d "$build/bin" ] || { echo "packaging: no build tree at $build (build first)" >&2; exit 1; }
export MF_BUILD_DIR MF_SOURCE_DIR="$src" MF_PKG_DIR
MF_BUILD_DIR=$(cd "$build" && pwd)

./scripts/deps.sh --packaging || exit 1

MF_PKG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/meta-fuse-pkg.XXXXXX")
trap 'rm -rf "$MF_PKG_DIR"' EXIT
start=$SECONDS
echo "packaging: building the .deb and the .rpm"
packaging/build-deb -o "$MF_PKG_DIR" || { echo "FAIL packaging: build-deb" >&2; exit 1; }
packaging/build-rpm -o "$MF_PKG_DIR" || { echo "FAIL packaging: build-rpm" >&2; exit 1; }
echo "packaging: both built in $((SECONDS - start)) s"

failed=()
skipped=()
for scenario in tests/packaging/pkg_*.sh; do
	name=$(basename "$scenario" .sh)
	t0=$SECONDS
	echo "=== $name"
	"$scenario"
	rc=$?
	case $rc in
	0) echo "=== $name: passed in $((SECONDS - t0)) s" ;;
	77) echo "=== $name: skipped"; skipped+=("$name") ;;
	*) echo "=== $name: FAILED (exit $rc)"; failed+=("$name") ;;
	esac
done
echo "packaging: $((SECONDS - start)) s;" \
	"${#failed[@]} failed${failed[*]:+ (${failed[*]})}," \
	"${#skipped[@]} skipped${skipped[*]:+ (${skipped[*]})}"
[ ${#failed[@]} -eq 0 ]
