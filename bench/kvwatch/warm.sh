#!/usr/bin/env bash
# bench/kvwatch/warm.sh: kvwatch's warm start "by hand", without Redis, and what
# the same saved tree costs a reader to load; not run in CI.
#
#   bench/kvwatch/warm.sh [-b BUILD_DIR] [-r RUNS] [-k KEEP_DIR] [SIZE...]
#                         (default: build, 5, none, 1000000)
#
# Per size: the library of tests/integration/kvwatch_gen.sh (the same paths and
# 16 properties per file), as JSON lines made into a saved tree in state_dir by
# mf-mksnapshot (the rules, tree builder and writer kvwatch uses), both on a
# tmpfs. Then RUNS times: an empty runtime directory, meta-fuse-kvwatch started
# against a port where no Redis listens (so no load competes with the start), and
# the time from its start to runtime_dir/vfs.snapshot existing ("start", measured
# here, polling every 5 ms) and the time kvwatch logs for validating and
# publishing the saved tree ("publish"). Last, bench/loadbench on the saved tree:
# snapshot_open() (what the warm start validates with) and snapshot_load() (a
# reader's private copy, what fused, davd and apid do at each generation).
# The load average is printed before and after: on a shared machine the figures
# move with it. KEEP_DIR keeps the saved trees for the next run (they take
# minutes to make at 1,000,000 files). Use a release build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build="$src/build"
runs=5
keep=
while getopts b:r:k: o; do
	case $o in
	b) build=$OPTARG ;;
	r) runs=$OPTARG ;;
	k) keep=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000)
kvw="$build/bin/meta-fuse-kvwatch"
mksnap="$build/tests/mf-mksnapshot"
loadbench="$build/bench/loadbench"
for f in "$kvw" "$mksnap" "$loadbench"; do
	[ -x "$f" ] || { echo "warm.sh: $f is not built (BUILD_TESTING=ON)" >&2; exit 1; }
done

shm=$(mktemp -d /dev/shm/mf-bench-warm.XXXXXX)
kpid=
cleanup() {
	[ -z "$kpid" ] || kill "$kpid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$shm"
}
trap cleanup EXIT

# The records of kvwatch_gen.sh (one MSET per file, in Redis protocol) as the
# JSON lines mf-mksnapshot reads: {"hashId": ID, PROPERTY: VALUE, ...}.
gen_records() {
	"$src/tests/integration/kvwatch_gen.sh" "$1" | LC_ALL=C awk '
function esc(v) { gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v); return "\"" v "\"" }
function flush() { if (out != "") print out "}"; out = "" }
BEGIN { RS = "\r\n" }
want { want = 0; if (++arg == 1) next	# the command, MSET
	if (arg % 2 == 0) { key = $0; next }
	sub(/^meta-sort:file:/, "", key)
	i = index(key, ":")
	if (out == "") out = "{\"hashId\":" esc(substr(key, 1, i - 1))
	out = out "," esc(substr(key, i + 1)) ":" esc($0)
	next }
/^\*/ { flush(); arg = 0; next }
/^\$/ { want = 1 }
END { flush() }'
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
ms_since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

echo "load average before: $(loadavg)"
for n in "${sizes[@]}"; do
	state="$shm/state-$n"
	run="$shm/run"
	mkdir -p "$state" "$run"
	if [ -n "$keep" ] && [ -s "$keep/state-$n/vfs.snapshot" ]; then
		cp "$keep/state-$n/vfs.snapshot" "$state/"
	else
		cat >"$shm/mk.conf" <<EOC
runtime_dir = "$state";
state_dir = "$state";
EOC
		gen_records "$n" | "$mksnap" -c "$shm/mk.conf" >/dev/null
		if [ -n "$keep" ]; then
			mkdir -p "$keep/state-$n"
			cp "$state/vfs.snapshot" "$keep/state-$n/"
		fi
	fi
	cat >"$shm/kv.conf" <<EOC
runtime_dir = "$run";
state_dir = "$state";
kv = { redis_url = "redis://127.0.0.1:1"; };
EOC
	size=$(stat -c %s "$state/vfs.snapshot")
	starts=() publishes=()
	for _ in $(seq "$runs"); do
		rm -f "$run/vfs.snapshot"
		t0=$(date +%s%N)
		"$kvw" -c "$shm/kv.conf" >"$shm/kv.log" 2>&1 &
		kpid=$!
		for _ in $(seq 12000); do [ -e "$run/vfs.snapshot" ] && break; sleep 0.005; done
		starts+=("$(ms_since "$t0")")
		for _ in $(seq 1000); do grep -q "published generation" "$shm/kv.log" && break; sleep 0.01; done
		# "... of the previous run, resyncing (412.3 ms)"
		publishes+=("$(sed -n 's/.*resyncing (\([0-9.]*\) ms).*/\1/p' "$shm/kv.log" |
			awk '{ printf "%.3f", $1 / 1000 }')")
		kill "$kpid"
		wait "$kpid" 2>/dev/null || true
		kpid=
	done
	printf '%s files, saved tree %.1f MB\n' "$n" "$(awk -v s="$size" 'BEGIN { print s / 1e6 }')"
	printf '  warm start, start -> published (s):  %s\n' "${starts[*]}"
	printf '  of which validate + publish (s):     %s\n' "${publishes[*]}"
	"$loadbench" -r "$runs" "$state/vfs.snapshot" | sed 's/^/  /'
	rm -rf "$state" "$run"
done
echo "load average after: $(loadavg)"
