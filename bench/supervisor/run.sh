#!/bin/bash
# bench/supervisor/run.sh: `meta-fuse run` side by side with supervisord
# (Debian's supervisor package) running the same workers (kvwatch, fused, davd
# and apid on a small library in a private redis-server), in one run.
#
#   bench/supervisor/run.sh [-b BUILD_DIR] [-k KILLS] [-i IDLE_SECONDS] [-m]
#
# -m runs meta-fuse alone (no supervisord), for a quick look.
#
# Figures per supervisor:
#   RSS        VmRSS of the supervisor (supervisord: its one python process),
#              2 s after the start (meta-fuse: also per mapping, and 2 s after
#              the kills)
#   idle       CPU time and context switches (wake-ups) of the supervisor over
#              IDLE_SECONDS (60) with every worker up and nothing happening;
#              for meta-fuse also what woke it: its log lines (-v names every
#              notify message) within that time
#   cold start from the fork to the file being stat-able through the mount,
#              and for meta-fuse to its READY=1 (every worker ready); the
#              library has 3 files, so the data load is negligible
#   restart    KILLS (50) times kill -9 of fused, then the time until its death
#              is seen (pidfd) plus until the mount serves a stat again; p50,
#              p99; meta-fuse also from the kill to fused's READY (its log),
#              and its log (-v, timed by the probe) of the slowest restart
#   status     `meta-fuse status` and `supervisorctl status`, mean of 20 runs
#              (process start included: what an operator waits for)
# meta-fuse runs with its default watchdog (60 s: the workers push the deadline
# of a timerfd every 30 s, which does not wake the supervisor); supervisord with
# startsecs=0 and its defaults otherwise; under it fused mounts by itself and
# davd and apid bind by themselves (as root, dropping to the readers' user), and
# kvwatch runs as the writer through setpriv (supervisord's user= wants a passwd
# entry), the same users as under meta-fuse.
# Needs root, supervisord, redis-server, python3, jq, and a Release build
# (default: build-bench, configured here without sanitizers).
set -u
set -o pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD="$ROOT/build-bench"
KILLS=50
IDLE=60
ONLY_MF=
while getopts "b:k:i:mh" o; do
	case $o in
	b) BUILD=$(realpath "$OPTARG") ;;
	k) KILLS=$OPTARG ;;
	i) IDLE=$OPTARG ;;
	m) ONLY_MF=1 ;;
	*)
		sed -n '2,34p' "$0"
		exit 1
		;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
for c in supervisord supervisorctl redis-server redis-cli python3 jq; do
	command -v $c >/dev/null || { echo "needs $c (scripts/deps.sh --bench)" >&2; exit 1; }
done
if [ ! -x "$BUILD/bin/meta-fuse" ]; then
	cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
	cmake --build "$BUILD" -j2 >/dev/null || exit 1
fi
BIN="$BUILD/bin"
PROBE="$ROOT/bench/supervisor/probe.py"
T=$(mktemp -d /tmp/mf-bench-sup.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 1
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	grep -qs " $T/mnt fuse" /proc/mounts && umount -l "$T/mnt"
	[ -n "${KEEP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT

# --- the library ---
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
DAV_PORT=$(free_port)
API_PORT=$(free_port)
redis-server --port $PORT --bind 127.0.0.1 --save "" --appendonly no --dir "$T" \
	>"$T/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p $PORT ping >/dev/null 2>&1 && break; sleep 0.05; done
mkdir -p "$T/files" "$T/mnt" "$T/run"
for i in 1 2 3; do
	rel="media1/Movies/Film $i ($((2000 + i)))/Film $i.mkv"
	mkdir -p "$T/files/$(dirname "$rel")"
	head -c 4096 /dev/urandom >"$T/files/$rel"
	redis-cli -p $PORT MSET "meta-sort:file:f$i:filePath" "$rel" "meta-sort:file:f$i:title" \
		"Film $i" "meta-sort:file:f$i:year" $((2000 + i)) >/dev/null
done
chmod -R a+rX "$T/files"
FILE="$T/mnt/Movies/Film 1 (2001)/Film 1.mkv"
cat >"$T/mf.conf" <<EOF
runtime_dir = "$T/run";
state_dir = "$T/state";
files_volume = "$T/files";
uid = 61001;
gid = 61001;
writer_user = "61000";
kv = { redis_url = "redis://127.0.0.1:$PORT"; };
fuse = { mount_point = "$T/mnt"; attr_ttl_ms = 0; dir_ttl_ms = 0; };
webdav = { listen = "127.0.0.1:$DAV_PORT"; };
api = { listen = "127.0.0.1:$API_PORT"; };
EOF
chmod 644 "$T/mf.conf"

rss_kb() { awk '/^VmRSS/ { print $2 }' /proc/$1/status; }
# "pss private" in kB: the shared libraries' pages split among their users, and
# the memory of the process alone.
pss_kb() { awk '/^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { v += $2 } END { print p, v }' /proc/$1/smaps_rollup; }
# by_mapping PID: RSS, PSS and private kB per mapped file (anonymous memory,
# heap and stack as one line each), largest RSS first.
by_mapping() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { n = $6; if (n == "") n = "[anon]"; sub(".*/", "", n); next }
		/^Rss:/ { r[n] += $2 } /^Pss:/ { p[n] += $2 } /^Private_(Clean|Dirty):/ { v[n] += $2 }
		END { for (k in r) if (r[k] > 0) printf "%6d %6d %6d  %s\n", r[k], p[k], v[k], k }' \
		/proc/$1/smaps | sort -n -r
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
cpu_ticks() { awk '{ print $14 + $15 }' /proc/$1/stat; }
switches() { awk '/ctxt_switches/ { s += $2 } END { print s }' /proc/$1/status; }
pct() { # PERCENTILE < numbers
	sort -n | awk -v p="$1" '{ a[NR] = $1 } END { i = int((NR * p + 99) / 100); if (i < 1) i = 1; print a[i] }'
}

mono_ms() { python3 -c 'import time; print("%.1f" % (time.monotonic() * 1000))'; }
# idle PID: "cpu_ms wakeups t0 t1" over IDLE seconds (t0, t1: CLOCK_MONOTONIC ms)
idle() {
	local c0 s0 c1 s1 hz t0 t1
	hz=$(getconf CLK_TCK)
	t0=$(mono_ms)
	c0=$(cpu_ticks "$1")
	s0=$(switches "$1")
	sleep "$IDLE"
	c1=$(cpu_ticks "$1")
	s1=$(switches "$1")
	t1=$(mono_ms)
	echo "$(((c1 - c0) * 1000 / hz)) $((s1 - s0)) $t0 $t1"
}

status_ms() { # CMD...: mean wall time of 20 runs, ms
	local t0 t1
	t0=$(date +%s%N)
	for _ in $(seq 20); do "$@" >/dev/null 2>&1; done
	t1=$(date +%s%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 20 / 1e6 }'
}

# --- meta-fuse ---
echo "meta-fuse run ..." >&2
read -r SV READY SERVING < <(python3 "$PROBE" start "$T/mf.log" "$FILE" "$BIN/meta-fuse" run -c "$T/mf.conf" -v)
PIDS+=("$SV")
sleep 2
MF_RSS=$(rss_kb "$SV")
read -r MF_PSS MF_PRIV < <(pss_kb "$SV")
by_mapping "$SV" >"$T/mf.maps"
read -r MF_CPU MF_WAKE IDLE_T0 IDLE_T1 < <(idle "$SV")
# What the supervisor did meanwhile: each wake-up that is not a timer of its own
# leaves a line at -v (a notify message, a worker's output, a child's exit).
awk -v a="$IDLE_T0" -v b="$IDLE_T1" '{ t = substr($1, 2) + 0 } t >= a && t <= b' "$T/mf.log" \
	>"$T/mf.idle"
MF_STATUS=$(status_ms "$BIN/meta-fuse" status -c "$T/mf.conf")
echo "meta-fuse: $KILLS kills ..." >&2
python3 "$PROBE" kills "$KILLS" "$FILE" \
	"$BIN/meta-fuse status -c $T/mf.conf --json | jq '.workers[] | select(.name == \"fused\") | .pid'" \
	>"$T/mf.kills" || exit 1
# kill -> READY: fused's "since" (its RUNNING state) minus the kill time, per kill;
# status.json only holds the last one, so the log's "is ready" lines are used.
MF_SERVE50=$(cut -d' ' -f1 "$T/mf.kills" | pct 50)
MF_SERVE99=$(cut -d' ' -f1 "$T/mf.kills" | pct 99)
grep -o 'fused is ready (pid [0-9]*, [0-9.]* ms after its start)' "$T/mf.log" | tail -n "$KILLS" |
	sed 's/.*, \([0-9.]*\) ms.*/\1/' >"$T/mf.ready"
# The timeline of the slowest restart: the supervisor's log lines from the kill
# until the mount served again.
read -r SLOW_MS SLOW_T0 < <(sort -n -r "$T/mf.kills" | head -1)
awk -v a="$SLOW_T0" -v b="$SLOW_MS" '{ t = substr($1, 2) + 0 }
	t >= a - 1 && t <= a + b + 50 { printf "  +%.1f ms %s\n", t - a, substr($0, index($0, "] ") + 2) }' \
	"$T/mf.log" >"$T/mf.slowest"
MF_READY50=$(pct 50 <"$T/mf.ready")
MF_READY99=$(pct 99 <"$T/mf.ready")
sleep 2
MF_RSS_AFTER=$(rss_kb "$SV")
MF_RESTARTS=$("$BIN/meta-fuse" status -c "$T/mf.conf" --json | jq '.workers[] | select(.name == "fused") | .restarts')
kill -TERM "$SV"
for _ in $(seq 100); do kill -0 "$SV" 2>/dev/null || break; sleep 0.1; done
MF_COLD_READY=$READY
MF_COLD_SERVING=$SERVING

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "$ONLY_MF" ]; then
	SD_RSS=0 SD_PSS=0 SD_PRIV=0 SD_CPU=- SD_WAKE=- SD_SERVING=- SD_SERVE50=- SD_SERVE99=-
	SD_STATUS=-
else
# --- supervisord ---
echo "supervisord ..." >&2
rm -f "$T/run/vfs.snapshot"
cat >"$T/supervisord.conf" <<EOF
[unix_http_server]
file = $T/supervisor.sock
[supervisord]
nodaemon = true
logfile = $T/supervisord.log
pidfile = $T/supervisord.pid
childlogdir = $T
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl = unix://$T/supervisor.sock
[program:kvwatch]
command = setpriv --reuid 61000 --regid 61000 --clear-groups $BIN/meta-fuse-kvwatch -c $T/mf.conf
priority = 1
startsecs = 0
autorestart = true
[program:fused]
command = $BIN/meta-fuse-fused -c $T/mf.conf
priority = 2
startsecs = 0
autorestart = true
[program:davd]
command = $BIN/meta-fuse-davd -c $T/mf.conf
priority = 2
startsecs = 0
autorestart = true
[program:apid]
command = $BIN/meta-fuse-apid -c $T/mf.conf
priority = 2
startsecs = 0
autorestart = true
EOF
chown 61000 "$T/run"
read -r SD _ SD_SERVING < <(python3 "$PROBE" start "$T/sd.log" "$FILE" supervisord -c "$T/supervisord.conf")
PIDS+=("$SD")
sleep 2
SD_RSS=$(rss_kb "$SD")
read -r SD_PSS SD_PRIV < <(pss_kb "$SD")
read -r SD_CPU SD_WAKE _ _ < <(idle "$SD")
SD_STATUS=$(status_ms supervisorctl -c "$T/supervisord.conf" status)
echo "supervisord: $KILLS kills ..." >&2
python3 "$PROBE" kills "$KILLS" "$FILE" "supervisorctl -c $T/supervisord.conf pid fused" \
	>"$T/sd.kills" || exit 1
SD_SERVE50=$(cut -d' ' -f1 "$T/sd.kills" | pct 50)
SD_SERVE99=$(cut -d' ' -f1 "$T/sd.kills" | pct 99)
kill -TERM "$SD"
for _ in $(seq 100); do kill -0 "$SD" 2>/dev/null || break; sleep 0.1; done
fi

cat <<EOF

bench/supervisor: kvwatch, fused, davd, apid, 3 files; $(nproc) CPUs, load $LOAD; $KILLS kills; idle over $IDLE s.
| | meta-fuse run | supervisord |
|---|---|---|
| RSS of the supervisor | $(mb $MF_RSS) MB | $(mb $SD_RSS) MB |
| PSS / private memory | $(mb $MF_PSS) / $(mb $MF_PRIV) MB | $(mb $SD_PSS) / $(mb $SD_PRIV) MB |
| idle CPU over $IDLE s | $MF_CPU ms | $SD_CPU ms |
| idle wake-ups (context switches) over $IDLE s | $MF_WAKE | $SD_WAKE |
| cold start to the mount serving | $MF_COLD_SERVING ms | $SD_SERVING ms |
| cold start to READY (every worker ready) | $MF_COLD_READY ms | no readiness |
| kill -9 of fused to serving again, p50 / p99 | $MF_SERVE50 / $MF_SERVE99 ms | $SD_SERVE50 / $SD_SERVE99 ms |
| fused's spawn to READY after a kill, p50 / p99 | $MF_READY50 / $MF_READY99 ms | - |
| status round trip (CLI process included) | $MF_STATUS ms | $SD_STATUS ms |
fused restarts counted by meta-fuse: $MF_RESTARTS; its RSS 2 s after the last: $(mb $MF_RSS_AFTER) MB
meta-fuse's memory by mapping (kB: RSS, PSS, private):
$(sed 's/^/  /' "$T/mf.maps")
meta-fuse's log lines while idle ($(wc -l <"$T/mf.idle")):
$(sed 's/^/  /' "$T/mf.idle")
meta-fuse's slowest restart ($SLOW_MS ms), its log from the kill:
$(cat "$T/mf.slowest")
EOF
