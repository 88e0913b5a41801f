#!/usr/bin/env bash
# A full build of a large tree runs off the event loop: with 200,000 records
# held (a saved tree, no Redis), new rules make kvwatch build the whole tree
# again, and meanwhile SIGUSR1 is answered at once, before the build's
# generation is out; SIGTERM during the next build stops kvwatch promptly,
# exit status 0, no temporary file left behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"
need python3
MKSNAP="$MF_BUILD_DIR/tests/mf-mksnapshot"
[ -x "$MKSNAP" ] || skip "mf-mksnapshot is not built"

N=200000
STATE="$T/state"
mkdir -p "$STATE"
rules() {
	cat <<EOR
state_dir = "$STATE";
rules = (
	{ name = "movies"; priority = 10; when = { property = "mediaType"; op = "equals"; value = "movie"; };
	  template = "$1"; },
	{ name = "rest"; template = "/Rest/{fileName}"; }
);
EOR
}
# No Redis listens there: kvwatch serves the saved tree and only builds.
url="redis_url = \"redis://127.0.0.1:$(free_port)\"; refresh_interval_ms = 600000;"
kv_conf busy "$url" "$(rules '/Films/{title} - {year}.{extension}')"
python3 - "$N" >"$T/records.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"hashId": "h%07d" % i, "filePath": "m/movie%d.mkv" % i, "size": i,
                      "mtime": 1600000000 + i, "title": "Movie %d" % i,
                      "year": str(1950 + i % 70), "mediaType": "movie"}))
PY
"$MKSNAP" -c "$T/busy.conf" --runtime-dir "$STATE" <"$T/records.jsonl" >"$T/mksnapshot.log" 2>&1 ||
	fail "mf-mksnapshot: $(tail -n 3 "$T/mksnapshot.log")"
kv_start busy
kv_wait 30 ".files == $N" "the saved tree of $N files is served"
LOG="$T/kvwatch-busy.log"

# line_of PATTERN: the line number of the first log line matching it (0: none).
line_of() {
	local n
	n=$(grep -n -m1 -- "$1" "$LOG" | cut -d: -f1)
	echo "${n:-0}"
}

builds() {
	grep -c "building generation .* on a thread" "$LOG" || true
}

more_builds_than() {
	[ "$(builds)" -gt "$1" ]
}

# build_started RULE: change the rules and wait until the build runs; sets gen.
build_started() {
	local before
	before=$(builds)
	kv_conf busy "$url" "$(rules "$1")"
	kill -HUP "$KV_PID"
	wait_for 30 more_builds_than "$before" ||
		fail "no build after new rules; log: $(grep -v retrying "$LOG" | tail -n 5)"
	gen=$(grep "building generation .* on a thread" "$LOG" | tail -n 1 |
		sed 's/.*building generation \([0-9]*\).*/\1/')
}

build_started '/Movies/{title} ({year}).{extension}'
t0=$(date +%s%N)
kill -USR1 "$KV_PID"
wait_for 5 grep -q "SIGUSR1: no change is held back" "$LOG" ||
	fail "SIGUSR1 not answered during the build"
ms=$((($(date +%s%N) - t0) / 1000000))
wait_for 60 grep -q "published generation $gen:" "$LOG" || fail "the build of generation $gen never ended"
answered=$(line_of "SIGUSR1: no change is held back")
published=$(line_of "published generation $gen:")
[ "$answered" -lt "$published" ] ||
	fail "SIGUSR1 was answered only after the build (log lines $answered, $published)"
[ "$ms" -lt 1000 ] || fail "SIGUSR1 during the build: expected an answer within 1000 ms, got $ms ms"
ok "SIGUSR1 answered in $ms ms while generation $gen was being built"
kv_has_path "/Movies/Movie 7 (1957).mkv" || fail "the new rules' tree is not the one published"
ok "the build's generation is published afterwards"

build_started '/Films/{year}/{title}.{extension}'
t0=$(date +%s%N)
kill -TERM "$KV_PID"
rc=0
wait "$KV_PID" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "$rc" 0 "kvwatch exits 0 on SIGTERM during a build"
[ "$ms" -lt 5000 ] || fail "SIGTERM during the build: expected an exit within 5000 ms, got $ms ms"
ok "SIGTERM during the build of generation $gen: exit 0 in $ms ms"
left=$(find "$RUN" -name '.vfs.snapshot.*' | wc -l)
expect_eq "$left" 0 "temporary snapshot files left in the runtime directory"
"$BIN/meta-fuse" dump --runtime-dir "$RUN" >/dev/null 2>&1 || fail "the published snapshot is not readable"
ok "nothing left behind; the published snapshot stays valid"
