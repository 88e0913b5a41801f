#!/bin/bash
# bench/davd/run.sh: meta-fuse-davd side by side with nginx (dav-ext), apache2
# (mod_dav), lighttpd (mod_webdav) and rclone serve webdav, over the same data,
# on loopback, in one run.  Every server is read-only with Basic auth.
#
#   bench/davd/run.sh [-b BUILD_DIR] [-d SECONDS]
#                     [-S "davd nginx apache lighttpd rclone mhdfloor"]
#
# Rows (wrk -t2 -c32 -d SECONDS, default 10):
#   GET 1K        GET of a 1 KiB file, req/s
#   GET 1M        GET of a 1 MiB file, MB/s
#   PF 1000       PROPFIND Depth 1 on a 1,000-entry collection, req/s
#   PF 50k        PROPFIND Depth 1 on a 50,000-entry collection, one request: seconds,
#                 and the peak RSS of the server's largest process during it (MB;
#                 every server's peak is reset just before, /proc/PID/clear_refs)
#   512M          one curl download of a 512 MiB file, MB/s
#   R64K          random 64 KiB Range GETs in the 512 MiB file, req/s
#   idle          RSS of the server's processes after start, summed (MB), and their
#                 PSS (RSS with each shared page divided among the processes
#                 mapping it: libraries, and davd's share of kvwatch's copy)
# After each server's row, the CPU time its processes spent per request in the
# GET 1K and GET 1M rows, and wrk's own (from /proc/PID/stat and /usr/bin/time):
# on a loaded machine these say more than the rates, which swing with the load.
# "-S mhdfloor" adds bench/davd/mhdfloor (the build's bench/mhdfloor): a bare
# libmicrohttpd server with davd's flags answering a 1 KiB buffer (GET 1K) and
# the 1 MiB file by sendfile (GET 1M), as libmicrohttpd's floor.
# Data on tmpfs (/dev/shm): each peer serves a plain tree; davd serves the same
# files through a snapshot that places them (1,000 and 50,000 episodes of two
# shows, so its collections have those sizes).  As in the suite, davd maps
# kvwatch's shared copy of the snapshot: meta-fuse-kvwatch runs beside it, with
# no Redis to reach, and publishes the saved snapshot (its warm start).  davd's
# idle figure is davd's own; the note after its row gives its PSS and what
# kvwatch holds for every reader (the copy, and kvwatch's RSS).  Needs wrk, curl, nginx with
# libnginx-mod-http-dav-ext, apache2 (and htpasswd), lighttpd with
# lighttpd-mod-webdav, rclone (./scripts/deps.sh --bench), and a Release build
# (-DSANITIZE=OFF) with meta-fuse-davd and mf-mksnapshot.
set -u
set -o pipefail

BUILD=""
DUR=10
SERVERS="davd nginx apache lighttpd rclone mhdfloor"
while getopts "b:d:S:h" o; do
	case $o in
	b) BUILD=$OPTARG ;;
	d) DUR=$OPTARG ;;
	S) SERVERS=$OPTARG ;;
	*) sed -n '2,29p' "$0"; exit 2 ;;
	esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
[ -n "$BUILD" ] || BUILD="$SRC/build-rel"
DAVD="$BUILD/bin/meta-fuse-davd"
KVWATCH="$BUILD/bin/meta-fuse-kvwatch"
MKSNAP="$BUILD/tests/mf-mksnapshot"
die() {
	echo "run.sh: $*" >&2
	exit 1
}
for c in wrk curl python3; do command -v "$c" >/dev/null || die "'$c' is not installed"; done
[ -x "$DAVD" ] && [ -x "$KVWATCH" ] && [ -x "$MKSNAP" ] ||
	die "no meta-fuse-davd / meta-fuse-kvwatch / mf-mksnapshot in $BUILD"

W=$(mktemp -d /dev/shm/mf-davd-bench.XXXXXX) || die "mktemp"
[ -d "$W" ] || die "no work directory"
chmod 755 "$W" # the peers' workers (www-data) read the tree and their password files
PIDS=()
cleanup() {
	[ -f "$W/kvwatch.pid" ] && PIDS+=("$(cat "$W/kvwatch.pid")")
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 1
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	case "$W" in /dev/shm/mf-davd-bench.*) rm -rf "$W" ;; esac
}
trap cleanup EXIT
USER_=bench
PASS=bench
AUTH="Authorization: Basic $(printf '%s:%s' "$USER_" "$PASS" | base64)"

# ---- data ---------------------------------------------------------------------
echo "making the data in $W ..."
T="$W/tree"
mkdir -p "$T/d1000" "$T/d50k" "$W/run"
head -c 1024 /dev/urandom >"$T/1k.mkv"
head -c $((1024 * 1024)) /dev/urandom >"$T/1m.mkv"
head -c $((512 * 1024 * 1024)) /dev/urandom >"$T/big.mkv"
python3 - "$T" "$W/records.jsonl" <<'PY'
import json, os, sys
tree, out = sys.argv[1], open(sys.argv[2], "w")
def rec(hid, path, **kw):
    d = {"hashId": hid, "filePath": path, "size": os.path.getsize(os.path.join(tree, path)),
         "mtime": 1600000000}
    d.update(kw)
    out.write(json.dumps(d) + "\n")
rec("k", "1k.mkv", title="One K", year=2001)
rec("m", "1m.mkv", title="One M", year=2002)
rec("b", "big.mkv", title="Big", year=2003)
for show, n, d in (("Thousand", 1000, "d1000"), ("Fifty", 50000, "d50k")):
    for i in range(1, n + 1):
        name = "%s - S01E%05d.mkv" % (show, i)
        os.link(os.path.join(tree, "1k.mkv"), os.path.join(tree, d, name))
        rec("%s%d" % (show, i), "%s/%s" % (d, name), title=show, season=1, episode=i)
PY
printf '%s\n' "runtime_dir = \"$W/run\";" "state_dir = \"$W/state\";" "files_volume = \"$T\";" \
	"uid = 0; gid = 0;" \
	'kv = { redis_url = "redis://127.0.0.1:1"; };' \
	"webdav = { listen = \"127.0.0.1:18801\"; username = \"$USER_\"; password = \"$PASS\"; threads = 2; };" \
	>"$W/davd.conf"
"$MKSNAP" -c "$W/davd.conf" <"$W/records.jsonl" >/dev/null || die "mf-mksnapshot failed"

# ---- servers ------------------------------------------------------------------
declare -A PORT=([davd]=18801 [nginx]=18802 [apache]=18803 [lighttpd]=18804 [rclone]=18805
	[mhdfloor]=18806)
url() { # url SERVER WHAT
	local base="http://127.0.0.1:${PORT[$1]}"
	if [ "$1" = davd ]; then
		case $2 in
		1k) echo "$base/webdav/Movies/One%20K%20(2001)/One%20K.mkv" ;;
		1m) echo "$base/webdav/Movies/One%20M%20(2002)/One%20M.mkv" ;;
		big) echo "$base/webdav/Movies/Big%20(2003)/Big.mkv" ;;
		d1000) echo "$base/webdav/TV/Thousand/Season%2001/" ;;
		d50k) echo "$base/webdav/TV/Fifty/Season%2001/" ;;
		esac
	else
		case $2 in
		1k | 1m | big) echo "$base/$2.mkv" ;;
		*) echo "$base/$2/" ;;
		esac
	fi
}

# kvwatch first (its warm start publishes the saved snapshot and the shared copy);
# its pid goes to the cleanup, davd's is the server's.
start_davd() {
	local i
	"$KVWATCH" -c "$W/davd.conf" >"$W/kvwatch.log" 2>&1 &
	echo $! >"$W/kvwatch.pid"
	for i in $(seq 100); do
		grep -q 'published generation' "$W/kvwatch.log" && break
		sleep 0.1
	done
	"$DAVD" -c "$W/davd.conf" -q >"$W/davd.log" 2>&1 &
	echo $!
}
# What davd maps of kvwatch's copy, and what kvwatch holds: one note line.
share_note() {
	local kv pss range copy=no
	kv=$(cat "$W/kvwatch.pid")
	pss=$(awk '/^Pss:/ {t += $2} END {printf "%.1f", t / 1024}' "/proc/$1/smaps_rollup")
	range=$(awk '/memfd:meta-fuse-vfs/ {print $1; exit}' "/proc/$1/maps")
	[ -n "$range" ] && copy=$(((16#${range#*-} - 16#${range%-*}) / 1048576))
	echo "  memory: davd maps $copy MB of kvwatch's shared copy (PSS with it $pss MB);" \
		"kvwatch RSS $(($(rss_sum "$kv") / 1024)) MB" | tee -a "$W/cpu"
}
start_nginx() {
	mkdir -p "$W/nginx"
	printf '%s:{PLAIN}%s\n' "$USER_" "$PASS" >"$W/nginx/htpasswd"
	printf '%s\n' \
		"load_module /usr/lib/nginx/modules/ngx_http_dav_ext_module.so;" \
		"user www-data; daemon off; master_process on; worker_processes 2;" \
		"pid $W/nginx/nginx.pid; error_log $W/nginx/error.log;" \
		"events { worker_connections 1024; }" \
		"http { access_log off; sendfile on; tcp_nopush on;" \
		"  client_body_temp_path $W/nginx/body;" \
		"  server { listen 127.0.0.1:${PORT[nginx]}; root $T;" \
		"    auth_basic \"bench\"; auth_basic_user_file $W/nginx/htpasswd;" \
		"    location / { dav_ext_methods PROPFIND OPTIONS;" \
		"      limit_except GET HEAD OPTIONS PROPFIND { deny all; } } } }" \
		>"$W/nginx/nginx.conf"
	nginx -c "$W/nginx/nginx.conf" >"$W/nginx/out.log" 2>&1 &
	echo $!
}
start_apache() {
	local m=/usr/lib/apache2/modules
	mkdir -p "$W/apache"
	htpasswd -bc "$W/apache/htpasswd" "$USER_" "$PASS" >/dev/null 2>&1
	printf '%s\n' "ServerRoot \"$W/apache\"" "ServerName localhost" \
		"Listen 127.0.0.1:${PORT[apache]}" "PidFile $W/apache/httpd.pid" \
		"ErrorLog $W/apache/error.log" \
		"LoadModule mpm_event_module $m/mod_mpm_event.so" \
		"LoadModule authz_core_module $m/mod_authz_core.so" \
		"LoadModule authz_user_module $m/mod_authz_user.so" \
		"LoadModule authn_core_module $m/mod_authn_core.so" \
		"LoadModule authn_file_module $m/mod_authn_file.so" \
		"LoadModule auth_basic_module $m/mod_auth_basic.so" \
		"LoadModule dav_module $m/mod_dav.so" \
		"LoadModule dav_fs_module $m/mod_dav_fs.so" \
		"LoadModule mime_module $m/mod_mime.so" "TypesConfig /etc/mime.types" \
		"User www-data" "Group www-data" "EnableSendfile On" "DavLockDB $W/apache/davlock" \
		"DocumentRoot \"$T\"" "<Directory \"$T\">" "Dav On" "AuthType Basic" \
		"AuthName \"bench\"" "AuthUserFile $W/apache/htpasswd" "Require valid-user" \
		"<LimitExcept GET HEAD OPTIONS PROPFIND>" "Require all denied" "</LimitExcept>" \
		"</Directory>" >"$W/apache/httpd.conf"
	APACHE_RUN_DIR="$W/apache" apache2 -f "$W/apache/httpd.conf" -DFOREGROUND \
		>"$W/apache/out.log" 2>&1 &
	echo $!
}
start_lighttpd() {
	mkdir -p "$W/lighttpd"
	printf '%s:%s\n' "$USER_" "$PASS" >"$W/lighttpd/users"
	printf '%s\n' 'server.modules = ("mod_auth", "mod_authn_file", "mod_webdav")' \
		"server.document-root = \"$T\"" 'server.bind = "127.0.0.1"' \
		"server.port = ${PORT[lighttpd]}" "server.errorlog = \"$W/lighttpd/error.log\"" \
		'mimetype.assign = (".mkv" => "video/x-matroska")' 'auth.backend = "plain"' \
		"auth.backend.plain.userfile = \"$W/lighttpd/users\"" \
		'auth.require = ("/" => ("method" => "basic", "realm" => "bench", "require" => "valid-user"))' \
		'webdav.activate = "enable"' 'webdav.is-readonly = "enable"' >"$W/lighttpd/lighttpd.conf"
	lighttpd -D -f "$W/lighttpd/lighttpd.conf" >"$W/lighttpd/out.log" 2>&1 &
	echo $!
}
start_rclone() {
	rclone serve webdav "$T" --addr "127.0.0.1:${PORT[rclone]}" --read-only --user "$USER_" \
		--pass "$PASS" >"$W/rclone.log" 2>&1 &
	echo $!
}

# RSS in kB of a server: its processes (the pid and its children) summed; the largest peak.
procs() {
	echo "$1"
	pgrep -P "$1"
}
# proc_sum PID FILE KEY: KEY's kB in /proc/P/FILE summed over the server's processes.
proc_sum() {
	local t=0 p v
	for p in $(procs "$1"); do
		v=$(awk -v k="$3:" '$1 == k {print $2}' "/proc/$p/$2" 2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
rss_sum() { proc_sum "$1" status VmRSS; }
pss_sum() { proc_sum "$1" smaps_rollup Pss; }
# kB as MB with one decimal.
mb1() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
hwm_max() {
	local m=0 v p
	for p in $(procs "$1"); do
		v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null)
		[ "${v:-0}" -gt "$m" ] && m=$v
	done
	echo "$m"
}

printf '%s\n' 'wrk.method = "PROPFIND"' 'wrk.headers["Depth"] = "1"' >"$W/propfind.lua"
printf '%s\n' 'local blocks = 512 * 1024 * 1024 / 65536' \
	'request = function()' \
	'  local start = math.random(0, blocks - 1) * 65536' \
	'  return wrk.format("GET", nil, {["Range"] = "bytes=" .. start .. "-" .. (start + 65535)})' \
	'end' >"$W/range.lua"
reqs() { sed -n 's/^Requests\/sec: *//p' | awk '{printf "%.0f", $1}'; }
# CPU ticks (utime + stime) of a server's processes.
cpu_ticks() {
	local t=0 p v
	for p in $(procs "$1"); do
		v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
# wcpu PID OUT ARGS...: wrk ARGS into OUT; prints "server-us wrk-us" of CPU per request.
wcpu() {
	local pid=$1 out=$2 c0 c1 hz
	shift 2
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "$pid")
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f 'WRKCPU %U %S' -o "$W/wrk.time" wrk -t2 -c32 -d"${DUR}s" -H "$AUTH" "$@" >"$out" 2>&1
	else
		wrk -t2 -c32 -d"${DUR}s" -H "$AUTH" "$@" >"$out" 2>&1
		echo "WRKCPU 0 0" >"$W/wrk.time"
	fi
	c1=$(cpu_ticks "$pid")
	awk -v c=$((c1 - c0)) -v hz="$hz" -v f="$W/wrk.time" '/requests in/ {n = $1}
		END {getline l <f; split(l, a, " "); if (n > 0) printf "%.1f %.1f", c * 1e6 / hz / n, (a[2] + a[3]) * 1e6 / n}' "$out"
}
mbps() {
	sed -n 's/^Transfer\/sec: *//p' |
		awk '{v = $1 + 0; if ($1 ~ /GB/) v *= 1024; else if ($1 ~ /KB/) v /= 1024; printf "%.0f", v}'
}
w() { wrk -t2 -c32 -d"${DUR}s" -H "$AUTH" "$@" 2>&1; }

printf '| %-8s | %10s | %10s | %10s | %16s | %9s | %9s | %11s |\n' server "GET 1K r/s" \
	"GET 1M MB/s" "PF 1000 r/s" "PF 50k s / peak MB" "512M MB/s" "R64K r/s" "idle MB RSS/PSS" | tee "$W/table"
for s in $SERVERS; do
	[ "$s" = mhdfloor ] && continue
	pid=$(start_"$s")
	PIDS+=("$pid")
	for _ in $(seq 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -u "$USER_:$PASS" "$(url "$s" 1k)")" = 200 ] && break
		sleep 0.1
	done
	code=$(curl -s -o /dev/null -w '%{http_code}' -u "$USER_:$PASS" -X PROPFIND -H 'Depth: 1' \
		"$(url "$s" d1000)")
	if [ "$code" != 207 ]; then
		echo "$s: PROPFIND answers $code, skipped"
		continue
	fi
	sleep 1
	idle=$(rss_sum "$pid")
	idle_pss=$(pss_sum "$pid")
	[ "$s" = davd ] && share_note "$pid"
	c1k=$(wcpu "$pid" "$W/get1k.out" "$(url "$s" 1k)")
	get1k=$(reqs <"$W/get1k.out")
	c1m=$(wcpu "$pid" "$W/get1m.out" "$(url "$s" 1m)")
	get1m=$(mbps <"$W/get1m.out")
	pf=$(w -s "$W/propfind.lua" "$(url "$s" d1000)" | reqs)
	for p in $(procs "$pid"); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null; done
	t0=$(date +%s%N)
	curl -s -o "$W/pf50k.xml" -u "$USER_:$PASS" -X PROPFIND -H 'Depth: 1' "$(url "$s" d50k)"
	pf50=$(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN {printf "%.2f", ns / 1e9}')
	n50=$(grep -o '</[A-Za-z0-9]*:\{0,1\}response>' "$W/pf50k.xml" | wc -l)
	peak=$(($(hwm_max "$pid") / 1024))
	[ "$s" = davd ] && echo "  memory: davd after the 50k PROPFIND: $(awk '/^Rss(Anon|File|Shmem):/ \
		{printf "%s %.1f MB ", $1, $2 / 1024}' "/proc/$pid/status")(Shmem: pages of kvwatch's copy)" |
		tee -a "$W/cpu"
	big=$(curl -s -o /dev/null -u "$USER_:$PASS" -w '%{speed_download}' "$(url "$s" big)" |
		awk '{printf "%.0f", $1 / 1048576}')
	rg=$(w -s "$W/range.lua" "$(url "$s" big)" | reqs)
	printf '| %-8s | %10s | %10s | %10s | %9s / %5s | %9s | %9s | %5s / %3s |\n' "$s" "$get1k" \
		"$get1m" "$pf" "$pf50" "$peak" "$big" "$rg" "$(mb1 "$idle")" "$(mb1 "$idle_pss")" |
		tee -a "$W/table"
	[ "$n50" -ge 50001 ] || echo "  note: $s: $n50 responses in the 50k PROPFIND (50,001 expected)"
	echo "  cpu: $s: GET 1K ${c1k% *} us/req (wrk ${c1k#* }), GET 1M ${c1m% *} us/req (wrk ${c1m#* })" |
		tee -a "$W/cpu"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if [ "$s" = davd ]; then
		kill -TERM "$(cat "$W/kvwatch.pid")" 2>/dev/null
		wait "$(cat "$W/kvwatch.pid")" 2>/dev/null
	fi
done
# libmicrohttpd's floor: the same flags as davd, nothing of davd's own work.
MHDFLOOR="$BUILD/bench/mhdfloor"
if [[ " $SERVERS " == *" mhdfloor "* ]]; then
	if [ -x "$MHDFLOOR" ]; then
		"$MHDFLOOR" -p "${PORT[mhdfloor]}" -t 2 -a "${AUTH#Authorization: }" -b 1024 \
			>"$W/mhdfloor.log" 2>&1 &
		pid=$!
		PIDS+=("$pid")
		"$MHDFLOOR" -p $((PORT[mhdfloor] + 1)) -t 2 -a "${AUTH#Authorization: }" -f "$T/1m.mkv" \
			-s 16384 >>"$W/mhdfloor.log" 2>&1 &
		pidf=$!
		PIDS+=("$pidf")
		sleep 1
		idle=$(rss_sum "$pid")
		idle_pss=$(pss_sum "$pid")
		c1k=$(wcpu "$pid" "$W/get1k.out" "http://127.0.0.1:${PORT[mhdfloor]}/1k")
		c1m=$(wcpu "$pidf" "$W/get1m.out" "http://127.0.0.1:$((PORT[mhdfloor] + 1))/1m")
		printf '| %-8s | %10s | %10s | %10s | %9s / %5s | %9s | %9s | %5s / %3s |\n' mhdfloor \
			"$(reqs <"$W/get1k.out")" "$(mbps <"$W/get1m.out")" - - - - - "$(mb1 "$idle")" \
			"$(mb1 "$idle_pss")" |
			tee -a "$W/table"
		echo "  cpu: mhdfloor: GET 1K ${c1k% *} us/req (wrk ${c1k#* }), GET 1M ${c1m% *} us/req (wrk ${c1m#* })"
		kill -TERM "$pid" "$pidf" 2>/dev/null
		wait "$pid" "$pidf" 2>/dev/null
	else
		echo "mhdfloor: no $MHDFLOOR, skipped"
	fi
fi
echo
echo "wrk -t2 -c32 -d${DUR}s on loopback; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
