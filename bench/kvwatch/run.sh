#!/usr/bin/env bash
# bench/kvwatch/run.sh: kvwatch against a local redis-server in meta-sort's
# layout (16 keys per file), not run in CI.
#
#   bench/kvwatch/run.sh [-b BUILD_DIR] [-r RUNS] [-u UPDATES] [-g GAP_MS] [-i IDLE_S]
#                        [SIZE...]  (default: build, 5, 200, 700, 600, 100000 1000000)
#
# Per size it prints, measured in the same run on the same keyspace:
#   floor        a bare SCAN MATCH <prefix>file:* COUNT 20000 (median of RUNS): the
#                floor of this layout, redis-server's own CPU
#   cold load    meta-fuse-kvwatch --once: time to the first published snapshot
#                (median of RUNS, alternating with the floor runs) and its
#                highest peak RSS, with the ratio of the medians
#   snapshot     the size of vfs.snapshot
#   steady RSS   the daemon after its first generation: anonymous memory and
#                what it maps of the snapshot, in bytes per file
#   update       PUBLISH -> next generation renamed into place, p50/p99/max over
#                UPDATES single-file updates, GAP_MS apart (more than a publish
#                and the 200 ms debounce take, so each is published alone);
#                measured up to 100,000 files
# and in a second table, where the cold load's time goes:
#   server CPU   redis-server's CPU time (INFO cpu) during the floor and during the
#                cold load (medians), and their ratio: the part no client can save
#   tail         kvwatch's build and write after the last reply (median)
#   replica sync the peer way in: a full sync as a replica would get it
#                (redis-cli --rdb, the RDB streamed by a forked child), once with
#                the server's default 5 s diskless-sync delay and once without it
# and in a third table, the daemon's life (default kv.refresh_interval_ms and
# kv.resync_cpu_percent):
#   warm start   after a "reboot" (runtime directory emptied, the copy in
#                state_dir kept), kvwatch's start to the saved tree published
#   rules reload SIGHUP with changed rules (same properties) to the new
#                generation renamed into place, no Redis command
#   idle CPU     redis-server's CPU over IDLE_S quiet seconds with the daemon
#                attached, as a share of one core
# and last, when BUILD_DIR has bench/dupbench (bench/vfs), the patch of one file
# among 100,000 of one name in one folder (median of 9, CPU time beside it).
# Use a release build (cmake -DCMAKE_BUILD_TYPE=Release, no sanitizers) on a quiet
# machine; the 1,000,000-file run needs ~3 GB for redis-server and a few minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build="$src/build"
runs=5
updates=200
gap=700
idle=600
while getopts b:r:u:g:i: o; do
	case $o in
	b) build=$OPTARG ;;
	r) runs=$OPTARG ;;
	u) updates=$OPTARG ;;
	g) gap=$OPTARG ;;
	i) idle=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
kvw="$build/bin/meta-fuse-kvwatch"
[ -x "$kvw" ] || { echo "run.sh: $kvw is not built" >&2; exit 1; }
. "$here/../lib.sh"
bench_need redis-server redis-cli cc

tmp=$(mktemp -d /tmp/mf-bench-kvwatch.XXXXXX)
# The runtime directory on a tmpfs, as /run/meta-fuse is under systemd: every
# generation is a new file of ~400 bytes per file, and on a disk file system its
# writeback competes with the next one.
shm=$(mktemp -d /dev/shm/mf-bench-kvwatch.XXXXXX)
pids=()
cleanup() { bench_stop "$tmp" "$shm"; }
trap cleanup EXIT
cc -O2 -o "$tmp/scanfloor" "$here/scanfloor.c" -lhiredis
cc -O2 -o "$tmp/latency" "$here/latency.c" -lhiredis

port=$(bench_redis "$tmp")
pids+=("$(cat "$tmp/redis.pid")")

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
server_cpu() {
	redis-cli -p "$port" info cpu | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { print s }'
}
# Run "$@" and append redis-server's CPU seconds during it to file $1.
with_server_cpu() {
	local out=$1 c0 c1
	shift
	c0=$(server_cpu)
	"$@"
	c1=$(server_cpu)
	awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f\n", b - a }' >>"$out"
}
# Seconds a full sync as a replica takes (the RDB is thrown away).
replica_sync() {
	local t0 t1
	t0=$(date +%s.%N)
	redis-cli -p "$port" --rdb - 2>/dev/null >/dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
detail=()
life=()
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

printf '%-9s %8s %10s %6s %9s %9s %13s %13s %21s\n' files floor "cold load" ratio "peak RSS" snapshot \
	"steady anon" "steady total" "update p50/p99/max"
loaded=0
for n in "${sizes[@]}"; do
	# Grow the keyspace to n files (ids loaded..n-1).
	"$src/tests/integration/kvwatch_gen.sh" $((n - loaded)) "$loaded" |
		redis-cli -p "$port" --pipe >/dev/null
	loaded=$n
	run="$shm/run"
	rm -rf "$run"
	mkdir -p "$run"
	cat >"$tmp/kv.conf" <<EOC
runtime_dir = "$run";
state_dir = "$tmp/state";
kv = { redis_url = "redis://127.0.0.1:$port"; refresh_interval_ms = 86400000; };
EOC
	cp "$src/etc/rules/default.conf" "$tmp/rules.conf"
	cat >"$tmp/life.conf" <<EOC
runtime_dir = "$run";
state_dir = "$tmp/state";
rules_file = "$tmp/rules.conf";
kv = { redis_url = "redis://127.0.0.1:$port"; };
EOC
	# Floor and cold load alternate, RUNS times each, so that both see the same
	# moods of a shared machine; the medians are compared.
	for f in floors colds floor_cpu cold_cpu tails; do : >"$tmp/$f"; done
	for _ in $(seq "$runs"); do
		with_server_cpu "$tmp/floor_cpu" \
			"$tmp/scanfloor" 127.0.0.1 "$port" 'meta-sort:file:*' 20000 >"$tmp/floor.out"
		cut -d' ' -f1 "$tmp/floor.out" >>"$tmp/floors"
		rm -f "$run/vfs.snapshot"
		with_server_cpu "$tmp/cold_cpu" /usr/bin/time -f "%e %M" -o "$tmp/time" \
			"$kvw" -c "$tmp/kv.conf" --once -v 2>"$tmp/cold.log"
		cat "$tmp/time" >>"$tmp/colds"
		# "... (build 908.0 ms after the load, write 278.0 ms)"
		sed -n 's/.*(build \([0-9.]*\) ms after the load, write \([0-9.]*\) ms).*/\1 \2/p' \
			"$tmp/cold.log" | awk '{ printf "%.3f\n", ($1 + $2) / 1000 }' >>"$tmp/tails"
	done
	floor_cpu=$(median <"$tmp/floor_cpu")
	cold_cpu=$(median <"$tmp/cold_cpu")
	sync_default=$(replica_sync)
	redis-cli -p "$port" config set repl-diskless-sync-delay 0 >/dev/null
	sync_nodelay=$(replica_sync)
	redis-cli -p "$port" config set repl-diskless-sync-delay 5 >/dev/null
	detail+=("$(printf '%-9s %9.2fs %9.2fs %5.2fx %7.2fs %9.2fs %9.2fs' "$n" "$floor_cpu" \
		"$cold_cpu" "$(awk -v a="$cold_cpu" -v b="$floor_cpu" 'BEGIN { print a / b }')" \
		"$(median <"$tmp/tails")" "$sync_default" "$sync_nodelay")")
	floor=$(median <"$tmp/floors")
	cold=$(cut -d' ' -f1 "$tmp/colds" | median)
	peak=$(cut -d' ' -f2 "$tmp/colds" | sort -n | tail -n 1)
	snap=$(stat -c %s "$run/vfs.snapshot")
	ratio=$(awk -v a="$cold" -v b="$floor" 'BEGIN { printf "%.2f", a / b }')

	# The daemon: steady memory, then update latency (a cold start: no saved copy).
	rm -f "$run/vfs.snapshot"
	rm -rf "$tmp/state"
	"$kvw" -c "$tmp/kv.conf" -q >"$tmp/daemon.log" 2>&1 &
	kpid=$!
	pids+=($kpid)
	# (a loaded machine takes many times the quiet figures: wait up to 20 minutes)
	for _ in $(seq 12000); do [ -s "$run/vfs.snapshot" ] && break; sleep 0.1; done
	# After the rename the daemon maps the file back and frees the load's memory
	# (a few seconds at 1,000,000 files): sample once RssAnon has held still.
	anon=0
	for _ in $(seq 60); do
		sleep 1
		prev=$anon
		anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$kpid/status")
		[ "$anon" != "$prev" ] || break
	done
	sleep 1
	anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$kpid/status")
	total=$(awk '/^VmRSS:/ { print $2 }' "/proc/$kpid/status")
	id=$(printf '%08x%08x%08x%08x%08x%08x%08x%08x' 3 22 44 54 68 76 100 110)
	lat="-"
	if [ "$updates" -gt 0 ] && [ "$n" -le 100000 ]; then
		lat=$("$tmp/latency" 127.0.0.1 "$port" "$run" "$id" "$updates" "$gap" |
			awk '{ printf "%s/%s/%s ms", $1, $2, $3 }')
	fi
	kill "$kpid"
	wait "$kpid" 2>/dev/null || true

	# The daemon's life: a warm start from the copy its stop left in state_dir,
	# a rules reload, then quiet minutes.
	rm -f "$run/vfs.snapshot"
	t0=$(date +%s%N)
	"$kvw" -c "$tmp/life.conf" >"$tmp/life.log" 2>&1 &
	kpid=$!
	pids+=($kpid)
	for _ in $(seq 6000); do [ -e "$run/vfs.snapshot" ] && break; sleep 0.01; done
	warm=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	for _ in $(seq 12000); do grep -q "full load from" "$tmp/life.log" && break; sleep 0.1; done
	sleep 2
	ino=$(stat -c %i "$run/vfs.snapshot")
	sed -i 's|template = "/Movies/|template = "/Films/|' "$tmp/rules.conf"
	t0=$(date +%s%N)
	kill -HUP "$kpid"
	for _ in $(seq 6000); do [ "$(stat -c %i "$run/vfs.snapshot")" != "$ino" ] && break; sleep 0.005; done
	reload=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	c0=$(server_cpu)
	sleep "$idle"
	c1=$(server_cpu)
	idlecpu=$(awk -v a="$c0" -v b="$c1" -v t="$idle" 'BEGIN { printf "%.3f", (b - a) * 100 / t }')
	kill "$kpid"
	wait "$kpid" 2>/dev/null || true
	life+=("$(printf '%-9s %10ss %10ss %9s%% (%ss)' "$n" "$warm" "$reload" "$idlecpu" "$idle")")
	printf '%-9s %7.2fs %9.2fs %5sx %6s MB %6s MB %6s B/file %6s B/file %21s\n' "$n" "$floor" "$cold" \
		"$ratio" "$(mb "$peak")" "$((snap / 1048576))" "$((anon * 1024 / n))" \
		"$(((total * 1024 - snap) / n))" "$lat"
done
echo "steady anon: kvwatch's own memory; steady total: its RSS less the snapshot size."
echo
printf '%-9s %-28s %8s  %-21s\n' "" "redis-server CPU during" "" "replica sync"
printf '%-9s %10s %10s %6s %8s %10s %10s\n' files floor "cold load" ratio tail default "no delay"
for line in "${detail[@]}"; do echo "$line"; done
echo
printf '%-9s %11s %11s %18s\n' files "warm start" "rules reload" "idle server CPU"
for line in "${life[@]}"; do echo "$line"; done
if [ -x "$build/bench/dupbench" ]; then
	echo
	echo "100,000 files of one name in one folder (bench/vfs dupbench, target < 50 ms):"
	"$build/bench/dupbench" -n 100000 -r 9 -d "$shm" | grep '^patch:'
fi
