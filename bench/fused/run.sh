#!/bin/bash
# bench/fused/run.sh: meta-fuse-fused side by side with the native tree, bindfs
# and mergerfs, over the same library on tmpfs, in one run.
#
#   bench/fused/run.sh [-n FILES] [-s BIG_MIB] [-b BUILD_DIR] [-m unpinned,pinned]
#                      [-S "native meta-fuse bindfs mergerfs"] [-a ATTR_TTL_MS] [-r REPEAT]
#
# The library (bench/fused/mklib.py): FILES files laid out as meta-fuse's
# default rules place them, so that all four show the same tree, plus one file
# of BIG_MIB MiB.  Figures per system, each the median of REPEAT runs (-r, 3):
#   find        `find DIR`, cold (after drop_caches) and warm (again at once)
#   stat walk   `find DIR -printf '%s %T@'` (an lstat of every entry), cold, warm
#   read        `dd bs=1M` of the big file in MB/s, cold and warm
#   randread    fio, random 4 KiB reads of the big file for 6 s, IOPS (cold; once)
# in two modes: unpinned, and pinned (the daemon and the reader both on CPU 0:
# on small VMs waking the other CPU costs more than the work).  Every system
# runs under the same conditions; the mode is printed with each table.
#
# Peers: bindfs with its defaults; mergerfs with cache.files=auto-full (its
# fastest reads).  meta-fuse with the shipped defaults (dir_ttl_ms 30000,
# read_ahead_kb 1024) but attr_ttl_ms = MF_ATTR_TTL_MS (default 600000): fused
# invalidates exactly what a new snapshot changes, so a long attribute timeout
# costs no freshness, while 1000 ms makes a walk that takes longer than a
# second look every name up again (-a 1000 shows that).  Needs root (tmpfs, mounts,
# drop_caches), bindfs, mergerfs, fio, python3, jq, and a build with
# meta-fuse-fused and mf-mksnapshot (use a Release build: -DSANITIZE=OFF).
set -u
set -o pipefail

FILES=100000
BIG_MIB=2048
BUILD=""
MODES="unpinned,pinned"
SYSTEMS="native meta-fuse bindfs mergerfs"
ATTR_TTL_MS=600000
REPEAT=3
while getopts "n:s:b:m:S:a:r:h" o; do
	case $o in
	n) FILES=$OPTARG ;;
	s) BIG_MIB=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	m) MODES=$OPTARG ;;
	S) SYSTEMS=$OPTARG ;;
	a) ATTR_TTL_MS=$OPTARG ;;
	r) REPEAT=$OPTARG ;;
	*) sed -n '2,30p' "$0"; exit 2 ;;
	esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
[ -n "$BUILD" ] || BUILD="$SRC/build"
FUSED="$BUILD/bin/meta-fuse-fused"
MKSNAP="$BUILD/tests/mf-mksnapshot"

die() { echo "run.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (tmpfs, mounts, drop_caches)"
for c in bindfs mergerfs fio python3 jq taskset fusermount3; do
	command -v "$c" >/dev/null || die "'$c' is not installed (./scripts/deps.sh --bench installs the peers)"
done
[ -x "$FUSED" ] && [ -x "$MKSNAP" ] || die "no meta-fuse-fused / mf-mksnapshot in $BUILD"

B=$(mktemp -d /tmp/mf-bench.XXXXXX)
MNT="$B/mnt"
DAEMON=""
cleanup() {
	[ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null
	grep -qs " $MNT fuse" /proc/mounts && { fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"; }
	sleep 0.3
	grep -qs " $B/fs " /proc/mounts && umount -l "$B/fs"
	rm -rf "$B"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$B/fs" "$MNT"
mount -t tmpfs -o size=$((BIG_MIB + 2048))m tmpfs "$B/fs" || die "cannot mount tmpfs"
TREE="$B/fs/tree"
echo "# building the library: $FILES files and one of $BIG_MIB MiB on tmpfs ..."
python3 "$HERE/mklib.py" "$B/fs" "$FILES" "$BIG_MIB" || die "mklib failed"
mkdir -p "$B/fs/run"
cat >"$B/fused.conf" <<EOF
runtime_dir = "$B/fs/run";
state_dir = "$B/fs/state";
files_volume = "$TREE";
uid = 0;
gid = 0;
fuse = { mount_point = "$MNT"; attr_ttl_ms = $ATTR_TTL_MS; };
EOF
"$MKSNAP" -c "$B/fused.conf" <"$B/fs/records.jsonl" || die "mf-mksnapshot failed"
BIGREL="Movies/Big Buck (2024)/Big Buck.mkv"
BIGSIZE=$(stat -c %s "$TREE/$BIGREL")

drop() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

now_ns() { date +%s%N; }

# ms COMMAND...: run it, print the wall time in ms.
ms() {
	local t0 t1
	t0=$(now_ns)
	"$@" >/dev/null 2>&1
	t1=$(now_ns)
	echo $(((t1 - t0) / 1000000))
}

# mbps: dd of the big file, MB/s (10^6 bytes).
mbps() {
	local t0 t1
	t0=$(now_ns)
	$PINR dd if="$DIR/$BIGREL" of=/dev/null bs=1M 2>/dev/null
	t1=$(now_ns)
	echo $((BIGSIZE * 1000 / (t1 - t0)))
}

iops() {
	$PINR fio --name=randread --filename="$DIR/$BIGREL" --rw=randread --bs=4k \
		--ioengine=psync --size="$BIGSIZE" --runtime=6 --time_based --invalidate=1 \
		--output-format=json 2>/dev/null | jq '.jobs[0].read.iops | floor'
}

start_system() {
	local sys=$1
	DAEMON=""
	case $sys in
	native)
		DIR=$TREE
		return 0
		;;
	meta-fuse)
		$PIND "$FUSED" -c "$B/fused.conf" -q >"$B/fused.log" 2>&1 &
		DAEMON=$!
		;;
	bindfs)
		$PIND bindfs -o ro "$TREE" "$MNT" || die "bindfs failed"
		;;
	mergerfs)
		$PIND mergerfs -o ro,cache.files=auto-full "$TREE" "$MNT" || die "mergerfs failed"
		;;
	esac
	for _ in $(seq 100); do
		grep -qs " $MNT fuse" /proc/mounts && [ -e "$MNT/Movies" ] && break
		sleep 0.1
	done
	grep -qs " $MNT fuse" /proc/mounts || die "$sys did not mount"
	DIR=$MNT
}

stop_system() {
	local sys=$1
	[ "$sys" = native ] && return 0
	if [ -n "$DAEMON" ]; then
		kill -TERM "$DAEMON"
		wait "$DAEMON"
		DAEMON=""
	else
		fusermount3 -u "$MNT" || umount -l "$MNT"
	fi
	for _ in $(seq 50); do grep -qs " $MNT fuse" /proc/mounts || break; sleep 0.1; done
}

# median N...: the middle value.
median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# measure KEY time|value COMMAND...: REPEAT times (drop caches, run, run again);
# the medians of the first (cold) and second (warm) runs.
measure() {
	local key=$1 kind=$2 cold=() warm=() i
	shift 2
	for i in $(seq "$REPEAT"); do
		drop
		if [ "$kind" = time ]; then
			cold+=("$(ms "$@")")
			warm+=("$(ms "$@")")
		else
			cold+=("$("$@")")
			warm+=("$("$@")")
		fi
	done
	R[$key,cold]=$(median "${cold[@]}")
	R[$key,warm]=$(median "${warm[@]}")
}

declare -A R
run_mode() {
	local mode=$1 sys count
	if [ "$mode" = pinned ]; then
		PIND="taskset -c 0"
		PINR="taskset -c 0"
	else
		PIND=""
		PINR=""
	fi
	for sys in $SYSTEMS; do
		echo "# $mode: $sys ..." >&2
		start_system "$sys"
		count=$($PINR find "$DIR" -type f | wc -l)
		R[$mode,$sys,files]=$count
		measure "$mode,$sys,find" time $PINR find "$DIR"
		R[$mode,$sys,find_cold]=${R[$mode,$sys,find,cold]}
		R[$mode,$sys,find_warm]=${R[$mode,$sys,find,warm]}
		measure "$mode,$sys,stat" time $PINR find "$DIR" -printf '%s %T@\n'
		R[$mode,$sys,stat_cold]=${R[$mode,$sys,stat,cold]}
		R[$mode,$sys,stat_warm]=${R[$mode,$sys,stat,warm]}
		measure "$mode,$sys,read" value mbps
		R[$mode,$sys,read_cold]=${R[$mode,$sys,read,cold]}
		R[$mode,$sys,read_warm]=${R[$mode,$sys,read,warm]}
		drop
		R[$mode,$sys,randread]=$(iops)
		stop_system "$sys"
	done
}

# ratio A B: A/B with two decimals.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'
}

report() {
	local mode=$1 m sys best bestv v lower unit peers=""
	for sys in $SYSTEMS; do
		case $sys in native|meta-fuse) ;; *) peers="$peers $sys" ;; esac
	done
	echo
	echo "== $mode: $FILES files + $((BIG_MIB)) MiB file on tmpfs; $(nproc) CPUs;" \
		"$( [ "$mode" = pinned ] && echo "daemon and reader on CPU 0" || echo "no pinning")"
	printf '%-18s' "metric"
	for sys in $SYSTEMS; do printf '%12s' "$sys"; done
	printf '%14s %14s\n' "mf/native" "mf/best peer"
	for m in files find_cold find_warm stat_cold stat_warm read_cold read_warm randread; do
		case $m in
		files) unit="" lower=none ;;
		find_*|stat_*) unit=" ms" lower=1 ;;
		read_*) unit=" MB/s" lower=0 ;;
		randread) unit=" IOPS" lower=0 ;;
		esac
		printf '%-18s' "$m$unit"
		for sys in $SYSTEMS; do printf '%12s' "${R[$mode,$sys,$m]:--}"; done
		best=""
		bestv=""
		for sys in $peers; do
			v=${R[$mode,$sys,$m]:-}
			[ -n "$v" ] || continue
			if [ -z "$bestv" ] || { [ "$lower" = 1 ] && [ "$v" -lt "$bestv" ]; } ||
				{ [ "$lower" = 0 ] && [ "$v" -gt "$bestv" ]; }; then
				best=$sys
				bestv=$v
			fi
		done
		if [ "$lower" != none ] && [ -n "${R[$mode,meta-fuse,$m]:-}" ]; then
			printf '%14s %14s' "$(ratio "${R[$mode,meta-fuse,$m]}" "${R[$mode,native,$m]:-0}")" \
				"$( [ -n "$bestv" ] && echo "$(ratio "${R[$mode,meta-fuse,$m]}" "$bestv") ($best)")"
		fi
		echo
	done
	echo "(medians of $REPEAT runs; meta-fuse: attr_ttl_ms $ATTR_TTL_MS; bindfs: defaults;" \
		"mergerfs: cache.files=auto-full)"
	echo "(times: lower is better, a ratio < 1 means meta-fuse is faster;" \
		"MB/s and IOPS: higher is better, a ratio > 1 means meta-fuse is faster)"
}

IFS=, read -r -a mode_list <<<"$MODES"
for mode in "${mode_list[@]}"; do
	run_mode "$mode"
done
for mode in "${mode_list[@]}"; do
	report "$mode"
done
