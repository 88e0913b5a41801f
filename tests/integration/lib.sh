# Shared helpers of the integration scenarios; each scenario sources this file.
#
# A scenario gets a private temp dir ($T), loopback ports from free_port, and a
# cleanup trap that stops every process it started (start_bg / start_redis) and
# unmounts every mount it registered (register_mount), whatever way it exits.
# Exit 77 means skipped, with the reason printed (skip).

set -u
set -o pipefail

: "${MF_BUILD_DIR:?MF_BUILD_DIR must name the build directory}"
: "${MF_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BIN="$MF_BUILD_DIR/bin"
T=$(mktemp -d "${TMPDIR:-/tmp}/mf-test.XXXXXX")
# kvwatch's saved tree (warm start) stays private to the scenario.
export META_FUSE_STATE_DIR="$T/state"
MF_PIDS=()
MF_MOUNTS=()
MF_SCENARIO=$(basename "$0" .sh)

# mf_mounted PATH: is something mounted at PATH?  /proc/mounts writes a space in
# a mount point as "\040", so fields are compared, not grepped.
mf_mounted() {
	M="${1// /\\040}" awk '$2 == ENVIRON["M"] { found = 1 } END { exit !found }' /proc/mounts
}

# mf_unmount_all: every registered mount, of any type (FUSE, or a test's small
# tmpfs), and every mount stacked at the same place.
mf_unmount_all() {
	local m
	for m in "${MF_MOUNTS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8; do
			mf_mounted "$m" || break
			fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || break
		done
	done
}

mf_cleanup() {
	local rc=$?
	mf_unmount_all
	for p in "${MF_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${MF_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	mf_unmount_all
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -d "$T" ]; then
		echo "--- $MF_SCENARIO failed (exit $rc); logs in $T:" >&2
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f (last 30 lines)" >&2
			tail -n 30 "$f" >&2
		done
	fi
	rm -rf "$T"
	exit "$rc"
}
trap mf_cleanup EXIT
trap 'exit 130' INT TERM

skip() {
	echo "SKIP $MF_SCENARIO: $*"
	exit 77
}

fail() {
	echo "FAIL $MF_SCENARIO: $*" >&2
	exit 1
}

ok() {
	echo "ok - $*"
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
	if [ "$1" != "$2" ]; then
		fail "$3: expected '$2', got '$1'"
	fi
	ok "$3"
}

# grep_quiet GREP-ARGS...: grep -q for the end of a pipe. grep -q exits at the
# first match, and with pipefail the writer's SIGPIPE would make the pipe fail:
# a match taken for none. This one reads all its input.
grep_quiet() {
	grep "$@" >/dev/null
}

# expect_match TEXT REGEX WHAT
expect_match() {
	# A here-string, not a pipe: grep -q stops at the first match, and with
	# pipefail the writer's SIGPIPE would turn a match into a failure.
	if ! grep -qE -- "$2" <<<"$1"; then
		fail "$3: expected to match /$2/, got '$1'"
	fi
	ok "$3"
}

need() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "'$c' is not installed"
	done
}

need_root_fuse() {
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount FUSE"
	[ -c /dev/fuse ] || skip "no /dev/fuse"
	need fusermount3
}

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	local p low=32768 span
	# Below the ephemeral range: a port the kernel may hand to an outgoing
	# connection (a client of the test's own servers) can vanish before the server
	# binds it.
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	[ "$low" -gt 12000 ] 2>/dev/null || low=32768
	span=$((low - 10000))
	for _ in $(seq 200); do
		p=$((10000 + RANDOM % span))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	fail "no free port found"
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local secs=$1
	shift
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.05
	done
}

# start_bg NAME COMMAND...: run in the background, output in $T/NAME.log; sets LAST_PID.
start_bg() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	LAST_PID=$!
	MF_PIDS+=("$LAST_PID")
}

register_mount() {
	MF_MOUNTS+=("$1")
}

# start_redis NAME: a private redis-server on a free port; sets REDIS_PORT, REDIS_PID.
start_redis() {
	need redis-server redis-cli
	local name=${1:-redis}
	REDIS_PORT=$(free_port)
	mkdir -p "$T/$name"
	start_bg "$name" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
		--appendonly no --dir "$T/$name" --protected-mode no
	REDIS_PID=$LAST_PID
	wait_for 10 redis-cli -p "$REDIS_PORT" ping || fail "redis-server did not start"
}

rcli() {
	redis-cli -p "$REDIS_PORT" "$@"
}
