#!/usr/bin/env bash
# bench/kvwatch/share.sh: the memory of the whole suite with the readers on
# kvwatch's shared copy of the snapshot, and with the private copies they read
# without it; not run in CI.
#
#   bench/kvwatch/share.sh [-b BUILD_DIR] [SIZE...]  (default: build, 100000)
#
# For each size a local redis-server gets the generated library
# (tests/integration/kvwatch_gen.sh) and meta-fuse-kvwatch publishes it. Then
# twice, the readers are started on the same published tree, each asked once
# (a stat through the mount, a PROPFIND, an API stat) and measured idle:
#   shared    fused (a real mount), davd and apid map kvwatch's copy (vfs.sock)
#   private   the same with vfs.sock removed first: each reads vfs.snapshot into
#             private memory, as every reader did before the copy was shared
# Per process RSS and PSS (/proc/PID/smaps_rollup), their sums with kvwatch's,
# and the memory the copy itself takes outside every process (Shmem of
# /proc/meminfo, kvwatch running, against kvwatch stopped). Needs root and
# /dev/fuse for the mount; a Release build, please.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build="$src/build"
while getopts b: o; do
	case $o in
	b) build=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000)
bin="$build/bin"
for p in meta-fuse-kvwatch meta-fuse-fused meta-fuse-davd meta-fuse-apid; do
	[ -x "$bin/$p" ] || { echo "share.sh: $bin/$p is not built" >&2; exit 1; }
done
. "$here/../lib.sh"
bench_need redis-server redis-cli curl

tmp=$(mktemp -d /tmp/mf-bench-share.XXXXXX)
run=$(mktemp -d /dev/shm/mf-bench-share.XXXXXX) # a tmpfs, as /run/meta-fuse is
pids=()
cleanup() {
	bench_stop
	mountpoint -q "$tmp/mnt" 2>/dev/null && umount -l "$tmp/mnt"
	rm -rf "$tmp" "$run"
}
trap cleanup EXIT

port=$(bench_redis "$tmp")
pids+=("$(cat "$tmp/redis.pid")")

dav=$((port + 1))
api=$((port + 2))
mkdir -p "$tmp/mnt" "$tmp/files"
cat >"$tmp/mf.conf" <<EOF
runtime_dir = "$run";
state_dir = "$tmp/state";
files_volume = "$tmp/files";
uid = 0;
gid = 0;
kv = { redis_url = "redis://127.0.0.1:$port"; };
fuse = { mount_point = "$tmp/mnt"; };
webdav = { listen = "127.0.0.1:$dav"; username = "u"; password = "p"; threads = 2; };
api = { listen = "127.0.0.1:$api"; };
EOF

# kB of a field of /proc/PID/smaps_rollup.
field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/smaps_rollup"; }
shmem() { awk '$1 == "Shmem:" {print $2}' /proc/meminfo; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
wait_log() { # wait_log FILE TEXT [SECONDS]
	for _ in $(seq $((${3:-60} * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "share.sh: no \"$2\" in $1" >&2
	exit 1
}

# readers MODE: start fused, davd and apid, ask each once, print their memory.
readers() {
	local mode=$1 rp=() p name sum_r=0 sum_p=0 r s
	"$bin/meta-fuse-fused" -c "$tmp/mf.conf" >"$tmp/fused-$mode.log" 2>&1 &
	rp+=($!)
	"$bin/meta-fuse-davd" -c "$tmp/mf.conf" >"$tmp/davd-$mode.log" 2>&1 &
	rp+=($!)
	"$bin/meta-fuse-apid" -c "$tmp/mf.conf" >"$tmp/apid-$mode.log" 2>&1 &
	rp+=($!)
	pids+=("${rp[@]}")
	wait_log "$tmp/fused-$mode.log" "mounted at"
	wait_log "$tmp/davd-$mode.log" 'serving "'
	wait_log "$tmp/apid-$mode.log" "serving generation"
	stat "$tmp/mnt/Movies" >/dev/null
	curl -s -o /dev/null -u u:p -X PROPFIND -H 'Depth: 1' "http://127.0.0.1:$dav/webdav/"
	curl -s -o /dev/null "http://127.0.0.1:$api/api/fuse/stats"
	sleep 1
	for p in "${rp[@]}"; do
		name=$(tr -d '\0' <"/proc/$p/comm")
		r=$(field "$p" Rss)
		s=$(field "$p" Pss)
		sum_r=$((sum_r + r))
		sum_p=$((sum_p + s))
		printf '  %-8s %-22s RSS %7s MB  PSS %7s MB  (%s)\n' "$mode" "$name" "$(mb "$r")" \
			"$(mb "$s")" "$(grep -o "in kvwatch's shared copy\|in a private copy" \
				"$tmp/${name#meta-fuse-}-$mode.log" | tail -n 1)"
	done
	r=$(field "$kv" Rss)
	s=$(field "$kv" Pss)
	printf '  %-8s %-22s RSS %7s MB  PSS %7s MB\n' "$mode" "meta-fuse-kvwatch" "$(mb "$r")" \
		"$(mb "$s")"
	printf '  %-8s %-22s RSS %7s MB  PSS %7s MB  Shmem now %s MB\n' "$mode" \
		"all four" "$(mb $((sum_r + r)))" "$(mb $((sum_p + s)))" "$(mb "$(shmem)")"
	kill -TERM "${rp[@]}"
	wait "${rp[@]}" 2>/dev/null || true
}

for n in "${sizes[@]}"; do
	redis-cli -p "$port" flushall >/dev/null
	"$src/tests/integration/kvwatch_gen.sh" "$n" 0 meta-sort: : |
		redis-cli -p "$port" --pipe >/dev/null
	rm -rf "${run:?}"/* "$tmp/state"
	shm0=$(shmem)
	"$bin/meta-fuse-kvwatch" -c "$tmp/mf.conf" >"$tmp/kvwatch.log" 2>&1 &
	kv=$!
	pids+=("$kv")
	wait_log "$tmp/kvwatch.log" "published generation" 900
	sleep 2
	size=$(stat -c %s "$run/vfs.snapshot")
	echo "$n files: snapshot $(mb $((size / 1024))) MB; kvwatch adds" \
		"$(mb $(($(shmem) - shm0))) MB of Shmem (the tmpfs file and the shared copy)"
	readers shared
	rm -f "$run/vfs.sock" # the readers find no copy: private copies
	readers private
	kill -TERM "$kv"
	wait "$kv" 2>/dev/null || true
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
