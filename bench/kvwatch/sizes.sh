#!/usr/bin/env bash
# bench/kvwatch/sizes.sh: what measuring the sources' sizes (kv.measure_sizes)
# costs kvwatch, against a local redis-server in meta-sort's layout; not run in CI.
#
#   bench/kvwatch/sizes.sh [-b BUILD_DIR] [-r RUNS] [SIZE...]  (default: build, 3, 100000)
#
# For each size the generated library (tests/integration/kvwatch_gen.sh) gets a
# files volume on a tmpfs holding every one of its files as a sparse file (one
# in ten of another size than Redis claims), and kvwatch runs alternately with
# kv.measure_sizes = true and false, RUNS times each; medians:
#   cold load    meta-fuse-kvwatch --once: the first load, the records placed
#                (and measured) on the load's thread as they arrive
#   full build   the daemon, started with the other setting, reloaded to this
#                one (SIGHUP): a full build of the records held on the build
#                thread, every file measured with true ("build" of the log line
#                of generation 2)
#   rules reload SIGHUP with changed rules of the same properties: every size
#                taken from the published tree, none measured
#   resync build a resync (SIGUSR2) that finds one record changed: a full build
#                of the loaded record set, which measures that file only (the
#                others' sizes come from the published tree)
# Release build, please; the machine's load is printed beside the figures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build="$src/build"
runs=3
while getopts b:r: o; do
	case $o in
	b) build=$OPTARG ;;
	r) runs=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000)
kvw="$build/bin/meta-fuse-kvwatch"
[ -x "$kvw" ] || { echo "sizes.sh: $kvw is not built" >&2; exit 1; }
. "$here/../lib.sh"
bench_need redis-server redis-cli python3

tmp=$(mktemp -d /tmp/mf-bench-sizes.XXXXXX)
shm=$(mktemp -d /dev/shm/mf-bench-sizes.XXXXXX)
pids=()
cleanup() { bench_stop "$tmp" "$shm"; }
trap cleanup EXIT

port=$(bench_redis "$tmp")
pids+=("$(cat "$tmp/redis.pid")")

id=$(printf '%08x%08x%08x%08x%08x%08x%08x%08x' 3 22 44 54 68 76 100 110) # file 3
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'; }

# volume START N: the sparse files of generated files START..START+N-1 (the paths
# of kvwatch_gen.sh; one in ten not of the size Redis claims).
volume() {
	python3 - "$shm/files" "$1" "$2" <<'EOF'
import os, sys
root, start, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(start, start + n):
    k = i % 10
    if k <= 4:
        t = f"Movie {i}"
        p = f"media1/Movies/{t} ({1950 + i % 70})/{t}.mkv"
    elif k <= 7:
        t, s = f"Show {i // 10}", 1 + i % 3
        p = f"media2/TV/{t}/Season {s:02d}/{t} - S{s:02d}E{k:02d}.mkv"
    elif k == 8:
        t = f"Anime {i // 10}"
        p = f"media3/Anime/{t}/{t} - {k:02d}.mkv"
    else:
        p = f"media4/misc/file{i}.iso"
    p = os.path.join(root, p)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.truncate(1000000 + i + (4567 if i % 10 == 3 else 0))
EOF
}

conf() { # conf NAME MEASURE RULES
	cat >"$tmp/$1.conf" <<EOC
runtime_dir = "$shm/run";
state_dir = "$shm/state";
files_volume = "$shm/files";
rules_file = "$tmp/$3";
kv = { redis_url = "redis://127.0.0.1:$port"; refresh_interval_ms = 86400000;
       measure_sizes = $2; };
EOC
}
cp "$src/etc/rules/default.conf" "$tmp/rules-a.conf"
# The same properties, other folders: a reload that places every file elsewhere.
sed 's|template = "/Movies/|template = "/Films/|' "$tmp/rules-a.conf" >"$tmp/rules-b.conf"
cmp -s "$tmp/rules-a.conf" "$tmp/rules-b.conf" && { echo "sizes.sh: rules unchanged" >&2; exit 1; }

# gen_line N LOG: "build" of the log line of generation N, in seconds.
gen_build() {
	sed -n "s/.*published generation $1: .*; build \([0-9.]*\) ms.*/\1/p" "$2" |
		awk '{ printf "%.3f\n", $1 / 1000 }' | tail -n 1
}

printf '%-9s %-8s %10s %11s %12s %12s %s\n' files measure "cold load" "full build" \
	"rules reload" "resync build" "load average"
loaded=0
for n in "${sizes[@]}"; do
	"$src/tests/integration/kvwatch_gen.sh" $((n - loaded)) "$loaded" |
		redis-cli -p "$port" --pipe >/dev/null
	volume "$loaded" $((n - loaded))
	loaded=$n
	for m in true false; do
		for f in cold build reload resync; do : >"$tmp/$f.$m"; done
	done
	for _ in $(seq "$runs"); do
		for m in true false; do
			conf once "$m" rules-a.conf
			rm -rf "$shm/run" "$shm/state"
			mkdir -p "$shm/run"
			t0=$(now)
			"$kvw" -c "$tmp/once.conf" --once -v 2>"$tmp/once.log"
			since "$t0" >>"$tmp/cold.$m"
			grep 'sizes:' "$tmp/once.log" >"$tmp/sizes.$m" || true

			# The daemon with the other setting, then a reload to this one: a
			# full build of the records held (measuring every file with true).
			rm -rf "$shm/run" "$shm/state"
			mkdir -p "$shm/run"
			conf life "$([ "$m" = true ] && echo false || echo true)" rules-a.conf
			"$kvw" -c "$tmp/life.conf" -v >"$tmp/life.log" 2>&1 &
			kpid=$!
			pids+=($kpid)
			for _ in $(seq 12000); do
				grep -q "published generation 1:" "$tmp/life.log" && break
				sleep 0.1
			done
			conf life "$m" rules-a.conf
			kill -HUP "$kpid"
			for _ in $(seq 12000); do
				grep -q "published generation 2:" "$tmp/life.log" && break
				sleep 0.1
			done
			gen_build 2 "$tmp/life.log" >>"$tmp/build.$m"
			# A rules reload: SIGHUP to generation 3.
			conf life "$m" rules-b.conf
			t0=$(now)
			kill -HUP "$kpid"
			for _ in $(seq 12000); do
				grep -q "published generation 3:" "$tmp/life.log" && break
				sleep 0.01
			done
			since "$t0" >>"$tmp/reload.$m"
			grep 'sizes:' "$tmp/life.log" | tail -n 1 >"$tmp/reload-sizes.$m" || true
			# A resync that finds one changed record: a full build of the
			# loaded set, the unchanged records' sizes from the published tree.
			redis-cli -p "$port" set "meta-sort:file:$id:size" $((RANDOM + 1)) >/dev/null
			kill -USR2 "$kpid"
			for _ in $(seq 12000); do
				grep -q "published generation 4:" "$tmp/life.log" && break
				sleep 0.1
			done
			gen_build 4 "$tmp/life.log" >>"$tmp/resync.$m"
			grep 'sizes:' "$tmp/life.log" | tail -n 1 >"$tmp/resync-sizes.$m" || true
			kill "$kpid"
			wait "$kpid" 2>/dev/null || true
		done
	done
	for m in true false; do
		printf '%-9s %-8s %9.2fs %10.2fs %11.2fs %11.2fs %s\n' "$n" "$m" \
			"$(median <"$tmp/cold.$m")" "$(median <"$tmp/build.$m")" \
			"$(median <"$tmp/reload.$m")" "$(median <"$tmp/resync.$m")" \
			"$(cut -d' ' -f1-3 /proc/loadavg)"
	done
	sed 's/^<[0-9]>//' "$tmp/sizes.true" "$tmp/reload-sizes.true" "$tmp/resync-sizes.true"
done
