#!/bin/bash
# supervisor_readers: davd and apid under the supervisor, once they are built
# (skipped until then, with the reason).  davd gets a privileged port (below
# 1024) bound by the supervisor and serves it as the readers' user; apid its
# API socket; both receive the socket through LISTEN_FDS; kill -9 of each:
# restarted and serving again (a WebDAV GET, an API call), the time printed.
# apid's /metrics shows davd's request counters (runtime_dir/metrics/).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"
need curl
for w in davd apid; do
	[ -x "$BIN/meta-fuse-$w" ] || skip "meta-fuse-$w is not built yet"
done

low_port() {
	local p
	for _ in $(seq 100); do
		p=$((600 + RANDOM % 400))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	fail "no free port below 1024"
}
WEBDAV_PORT=$(low_port)
sv_library
sv_config
start_sv --watchdog-sec 10

DAV="http://127.0.0.1:$WEBDAV_PORT/webdav/Movies/Inception%20(2010)/Inception.mkv"
API="http://127.0.0.1:$API_PORT/api/fuse/health"
SRC="$T/files/media1/Movies/Inception (2010)/Inception.mkv"
dav_get() { curl -sf -u metamesh:metamesh -o "$T/got" "$DAV" && cmp -s "$T/got" "$SRC"; }
api_get() { curl -sf -o /dev/null "$API"; }

dav_get || fail "WebDAV GET on the privileged port $WEBDAV_PORT"
ok "davd serves port $WEBDAV_PORT (< 1024)"
api_get || fail "API call"
ok "apid answers"
for w in davd apid; do
	p=$(wpid $w)
	expect_match "$(grep ^Uid: /proc/$p/status)" "^Uid:\s+$READER\s" "$w runs as the readers' user"
	expect_match "$(grep ^CapEff: /proc/$p/status)" "CapEff:\s+0+$" "$w has no capability"
	env=$(tr '\0' '\n' </proc/$p/environ)
	expect_match "$env" "^LISTEN_FDS=1$" "$w: LISTEN_FDS=1"
	expect_match "$env" "^LISTEN_PID=$p$" "$w: LISTEN_PID"
	expect_match "$(readlink /proc/$p/fd/3)" "^socket:" "$w: its socket is fd 3"
done

# The request counters: davd and apid write theirs into runtime_dir/metrics/,
# the readers' directory inside the writer's runtime_dir; apid's /metrics shows
# davd's GETs.
expect_eq "$(stat -c '%u %a' "$RUN/metrics")" "$READER 755" "runtime_dir/metrics: the readers', 0755"
expect_eq "$(stat -c '%u' "$RUN/metrics/davd.metrics")" "$READER" "davd.metrics written by davd"
davd_gets() {
	curl -s "http://127.0.0.1:$API_PORT/metrics" >"$T/metrics.txt" &&
		grep -qE '^mf_http_responses_total\{server="davd",route="GET",code="2xx"\} [1-9]' \
			"$T/metrics.txt"
}
wait_for 10 davd_gets || fail "apid's /metrics lacks davd's GET counter: $(grep -c server=\"davd\" "$T/metrics.txt") davd lines"
ok "apid's /metrics shows davd's GET counter"
expect_match "$(grep -c '^mf_http_responses_total{server="apid"' "$T/metrics.txt")" '^[1-9]' \
	"apid's /metrics shows its own counters"
# The readers (another user than kvwatch) map kvwatch's shared copy of the
# snapshot, handed over runtime_dir/vfs.sock inside the writer's 0750 directory.
expect_eq "$(awk '$1 == "mf_snapshot_shared" {print $2}' "$T/metrics.txt")" 1 \
	"apid, as the readers' user, maps kvwatch's shared copy"
for w in davd apid; do
	grep -q "$w: serving generation .* in kvwatch's shared copy" "$T/sv.log" ||
		fail "$w does not serve kvwatch's shared copy: $(grep "$w: serving generation" "$T/sv.log" | tail -n 1)"
	grep -q 'memfd:meta-fuse-vfs' "/proc/$(wpid $w)/maps" || fail "$w maps no shared copy"
done
ok "davd and apid log and map kvwatch's shared copy"
if grep -q "cannot create" "$T/sv.log"; then
	fail "the supervisor's log has: $(grep "cannot create" "$T/sv.log")"
fi
ok "no \"cannot create\" in the supervisor's log"

# POST /api/fuse/refresh: apid asks the supervisor, which gives kvwatch SIGUSR2;
# a second request within 10 s is refused (429), sparing the shared Redis.
REFRESH="http://127.0.0.1:$API_PORT/api/fuse/refresh"
code=$(curl -s -o "$T/refresh.json" -w '%{http_code}' -X POST "$REFRESH")
expect_eq "$code" 202 "refresh through apid: accepted"
wait_for 10 grep -q "kvwatch: SIGUSR2: a full resync was asked for" "$T/sv.log" ||
	fail "kvwatch was not asked for a resync: $(tail -n 5 "$T/sv.log")"
ok "kvwatch got the resync request"
code=$(curl -s -o "$T/refresh2.json" -w '%{http_code}' -X POST "$REFRESH")
expect_eq "$code" 429 "a second refresh within 10 s: 429"

# kill -9: restarted and serving again.
for w in davd apid; do
	old=$(wpid $w)
	t0=$(now_ms)
	kill -9 "$old"
	check=dav_get
	[ $w = apid ] && check=api_get
	back() { [ "$(wpid $w)" != "$old" ] && wstate_is $w running && $check; }
	wait_for 20 back || fail "$w not serving again after kill -9"
	echo "# $w: kill -9 to serving again in $(($(now_ms) - t0)) ms (machine shared)"
	ok "$w restarted and serving"
done
stop_sv
