#!/usr/bin/env bash
# kvwatch_sizes: Redis claims wrong sizes for local files (too small, too large,
# 0, absent, 2^64-1) and the tree kvwatch publishes shows the sources' own,
# measured beneath files_volume, so that before any open:
#   - `stat` through a real fused mount (with a ten-minute attribute cache),
#   - davd's PROPFIND getcontentlength and
#   - apid's getattr size
# are the bytes a read returns.  A source that is not there keeps the claim; a
# source symlink leading out of the volume is not measured.  A file replaced by
# one of another size and announced again, with a new (still wrong) claim or
# with the same one, shows the new size through a live patch; an announcement
# that changes nothing publishes nothing.  A resync that finds one claim changed
# measures that file only; a rules reload keeps the measured sizes (taken from
# the published tree, no stat), and so does the warm start (the saved tree
# served while Redis is away).  kvwatch says it in one summary line; run as a
# user that may not search the volume it keeps the claims and says why.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"
need python3 curl
[ -x "$BIN/meta-fuse-davd" ] || skip "meta-fuse-davd is not built"
[ -x "$BIN/meta-fuse-apid" ] || skip "meta-fuse-apid is not built"

start_redis
fused_config attr_ttl_ms=600000 dir_ttl_ms=600000
DAVD_PORT=$(free_port)
API_PORT=$(free_port)
cat >>"$T/fused.conf" <<EOF
webdav = { listen = "127.0.0.1:$DAVD_PORT"; username = "u"; password = "p"; };
api = { listen = "127.0.0.1:$API_PORT"; };
rules = ( { name = "other"; priority = 10; template = "/Other/{fileName}"; } );
EOF

mkdir -p "$T/files/s"
src() { # src NAME BYTES
	head -c "$2" /dev/urandom >"$T/files/s/$1"
}
src small.mkv 4567
src large.mkv 1234
src zero.mkv 2048
src nosize.mkv 3333
src huge.mkv 777
src right.mkv 500
head -c 5555 /dev/urandom >"$T/outside.mkv"
ln -s ../../outside.mkv "$T/files/s/escape.mkv"
set_record() { # set_record ID FILE [SIZE]
	rcli set "meta-sort:file:$1:filePath" "s/$2" >/dev/null
	[ $# -lt 3 ] || rcli set "meta-sort:file:$1:size" "$3" >/dev/null
}
set_record small small.mkv 10
set_record large large.mkv 999999
set_record zero zero.mkv 0
set_record nosize nosize.mkv
set_record huge huge.mkv 18446744073709551615
set_record right right.mkv 500
set_record gone gone.mkv 50
set_record escape escape.mkv 60

# What a size should be, per file: the source's, or the claim where none is measured.
WANT="small.mkv:4567 large.mkv:1234 zero.mkv:2048 nosize.mkv:3333 huge.mkv:777 right.mkv:500
gone.mkv:50 escape.mkv:60"

# dump_sizes: "name size" of every file of the published tree, sorted.
dump_sizes() {
	kv_dump | tail -n +2 | jq -r 'select(.type == "file") | "\(.path | split("/") | last) \(.size)"' |
		sort
}
want_sizes() {
	tr ' ' '\n' <<<"$WANT" | grep . | tr ':' ' ' | sort
}

start_bg kvwatch "$KVW" -c "$T/fused.conf" -v
KV_PID=$LAST_PID
kv_wait 20 '.kv.connected and .files == 8' "kvwatch publishes the 8 files"
expect_eq "$(dump_sizes)" "$(want_sizes)" "the snapshot's sizes are the sources' where measured"
grep -q "sizes: 5 of 8 files differ from the KV store's size and show their source's (first: hash id [a-z]*, [0-9]* bytes); 2 not measured (1 missing, 1 refused, 0 permission denied to kvwatch's user, 0 other errors)" \
	"$T/kvwatch.log" || fail "no summary line: $(grep 'sizes:' "$T/kvwatch.log")"
ok "one summary line says what was measured"
expect_eq "$(grep -c 'sizes:' "$T/kvwatch.log")" 1 "one summary line, not one per file"

start_fused
start_bg davd "$BIN/meta-fuse-davd" -c "$T/fused.conf" -v
DAVD_PID=$LAST_PID
wait_for 15 grep -q 'serving "' "$T/davd.log" || fail "davd did not start: $(cat "$T/davd.log")"
start_bg apid "$BIN/meta-fuse-apid" -c "$T/fused.conf" -v
APID_PID=$LAST_PID
wait_for 15 curl -sf -o /dev/null "http://127.0.0.1:$API_PORT/api/fuse/stats" ||
	fail "apid did not answer: $(cat "$T/apid.log")"

# Depth 1 PROPFIND of /Other: "name length" per file, sorted.
propfind_sizes() {
	curl -s -u u:p -X PROPFIND -H "Depth: 1" "http://127.0.0.1:$DAVD_PORT/webdav/Other/" >"$T/pf.xml"
	python3 - "$T/pf.xml" <<'EOF' | sort
import sys, urllib.parse, xml.etree.ElementTree as ET
for r in ET.parse(sys.argv[1]).getroot().findall("{DAV:}response"):
    n = r.find(".//{DAV:}getcontentlength")
    href = r.find("{DAV:}href").text
    if n is not None and not href.endswith("/"):
        print(urllib.parse.unquote(href.split("/")[-1]), n.text)
EOF
}
getattr_size() {
	curl -s -X POST -H "Content-Type: application/json" \
		--data "{\"path\": \"/Other/$1\"}" "http://127.0.0.1:$API_PORT/api/fuse/getattr" |
		jq -r .size
}

# Before any open: stat (a lookup; the kernel keeps what it answers for 10 min).
for f in $WANT; do
	name=${f%%:*} size=${f#*:}
	expect_eq "$(stat -c %s "$MNT/Other/$name")" "$size" "$name: stat through fused before any open"
	expect_eq "$(getattr_size "$name")" "$size" "$name: apid getattr size"
done
expect_eq "$(propfind_sizes)" "$(want_sizes)" "davd PROPFIND getcontentlength of every file"
for f in small large zero nosize huge right; do
	cmp -s "$MNT/Other/$f.mkv" "$T/files/s/$f.mkv" || fail "$f.mkv: the bytes read differ"
done
ok "a read returns as many bytes as stat said"
# The symlink out of the volume was never followed for its size.
expect_eq "$(stat -c %s "$MNT/Other/escape.mkv")" 60 "escape.mkv: the source outside is not measured"

# The file is replaced by one of another size and announced with a new claim.
gen=$(kv_hdr .generation)
src small.mkv 8000
rcli set meta-sort:file:small:size 9 >/dev/null
kv_publish '{"changes": [{"action": "update", "hashId": "small"}]}'
kv_wait 10 ".generation > $gen" "the change is published"
WANT=${WANT/small.mkv:4567/small.mkv:8000}
expect_eq "$(dump_sizes)" "$(want_sizes)" "the replaced file's new size, the others unchanged"
grep -q "published generation $((gen + 1)):.*patch" "$T/kvwatch.log" || fail "not a patch"
# eventually SECONDS WANT COMMAND...: wait until COMMAND prints WANT; prints its last output.
eventually() {
	local limit=$(($1 * 10)) want=$2 got
	shift 2
	for _ in $(seq "$limit"); do
		got=$("$@")
		[ "$got" = "$want" ] && break
		sleep 0.1
	done
	printf '%s' "$got"
}
propfind_one() {
	propfind_sizes | sed -n "s/^$1 //p"
}
expect_eq "$(eventually 10 8000 stat -c %s "$MNT/Other/small.mkv")" 8000 \
	"small.mkv: stat through fused shows the new size"
expect_eq "$(eventually 10 8000 getattr_size small.mkv)" 8000 "small.mkv: apid getattr shows the new size"
expect_eq "$(eventually 10 8000 propfind_one small.mkv)" 8000 "small.mkv: davd PROPFIND shows the new size"
cmp -s "$MNT/Other/small.mkv" "$T/files/s/small.mkv" || fail "small.mkv: the bytes read differ"
ok "small.mkv: a read returns the new bytes"

# Replaced again and announced with the same claim: the record did not change,
# the source did; a patch places it again.
gen=$(kv_hdr .generation)
src small.mkv 9000
kv_publish '{"changes": [{"action": "update", "hashId": "small"}]}'
kv_wait 10 ".generation > $gen" "an announced file whose record did not change is published"
WANT=${WANT/small.mkv:8000/small.mkv:9000}
expect_eq "$(dump_sizes)" "$(want_sizes)" "the file's new size with the same claim"
expect_eq "$(eventually 10 9000 stat -c %s "$MNT/Other/small.mkv")" 9000 \
	"small.mkv: stat through fused shows it"
# Announced again, nothing changed anywhere: nothing is published.
gen=$(kv_hdr .generation)
kv_publish '{"changes": [{"action": "update", "hashId": "small"}, {"action": "update", "hashId": "gone"}]}'
wait_for 10 grep -q "batch: 2 fetched, 0 removed, 0 vanished, 0 records changed" "$T/kvwatch.log" ||
	fail "the announcement was not fetched"
# (past the 200 ms debounce, a generation it made would be out before the next)
sleep 0.3
rcli set meta-sort:file:gone:size 51 >/dev/null
kv_publish '{"changes": [{"action": "update", "hashId": "gone"}]}'
kv_wait 10 ".generation > $gen" "the next change is published"
WANT=${WANT/gone.mkv:50/gone.mkv:51}
expect_eq "$(kv_hdr .generation)" $((gen + 1)) "an announcement that changes nothing published nothing"
expect_eq "$(dump_sizes)" "$(want_sizes)" "a file kvwatch cannot measure shows its new claim"

# A claim changed without a message: the resync's full build measures that
# file, and takes the others' sizes from the published tree.
gen=$(kv_hdr .generation)
rcli set meta-sort:file:right:size 501 >/dev/null
kill -USR2 "$KV_PID"
kv_wait 20 ".generation > $gen" "the resync publishes the change"
expect_eq "$(dump_sizes)" "$(want_sizes)" "after the resync, every size is the source's"
grep -q "published generation $((gen + 1)):.*build" "$T/kvwatch.log" || fail "not a build"
grep 'sizes:' "$T/kvwatch.log" | tail -n 1 | grep -q "7 taken from the published tree" ||
	fail "the resync measured unchanged files: $(grep 'sizes:' "$T/kvwatch.log" | tail -n 1)"
ok "the resync measured the changed file only"

# A rules reload (asking for the same properties) places the records again
# without measuring: the sizes stay.
gen=$(kv_hdr .generation)
sed -i 's|name = "other"; priority = 10; template = "/Other/|name = "flat"; priority = 10; template = "/Flat/|' \
	"$T/fused.conf"
kill -HUP "$KV_PID"
kv_wait 20 ".generation > $gen" "the rules reload is published"
expect_eq "$(kv_dump | tail -n +2 | jq -r 'select(.type == "file") | .path' | grep -c '^/Flat/')" 8 \
	"the new rules placed every file"
expect_eq "$(dump_sizes)" "$(want_sizes)" "a rules reload keeps the measured sizes"
grep -q "8 taken from the published tree" "$T/kvwatch.log" ||
	fail "the rules reload measured again: $(grep 'sizes:' "$T/kvwatch.log" | tail -n 2)"
ok "the rules reload took every size from the published tree"

# Warm start: the saved tree, served with Redis away, keeps them too.
kill -TERM "$KV_PID"
rc=0
wait "$KV_PID" || rc=$?
expect_eq "$rc" 0 "kvwatch exits 0 on SIGTERM"
[ -f "$T/state/vfs.snapshot" ] || fail "no saved tree in state_dir"
rm -f "$T/run/vfs.snapshot"
sed "s|redis://127.0.0.1:$REDIS_PORT|redis://127.0.0.1:$(free_port)|" "$T/fused.conf" >"$T/away.conf"
start_bg kvwatch-away "$KVW" -c "$T/away.conf" -v
KV_PID=$LAST_PID
kv_wait 20 '.kv.resyncing' "the saved tree is served at start, resyncing"
expect_eq "$(dump_sizes)" "$(want_sizes)" "the warm start serves the measured sizes"
kill -TERM "$KV_PID"
rc=0
wait "$KV_PID" || rc=$?
expect_eq "$rc" 0 "kvwatch exits 0 on SIGTERM"

# kvwatch runs as a user of its own under the supervisor: where that user may
# not search the volume, the claims stay and one line says why, no crash.
chmod 0755 "$T"
mkdir -p "$T/run-nobody" "$T/locked/vol"
chown nobody "$T/run-nobody"
chmod 0700 "$T/files/s" "$T/locked"
sed "s|^runtime_dir = .*|runtime_dir = \"$T/run-nobody\";|" "$T/fused.conf" >"$T/nobody.conf"
WANT="small.mkv:9 large.mkv:999999 zero.mkv:0 nosize.mkv:0 huge.mkv:0 right.mkv:501 gone.mkv:51
escape.mkv:60"
RUN="$T/run-nobody"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$KVW" -c "$T/nobody.conf" --once \
	>"$T/kvwatch-nobody.log" 2>&1 || fail "kvwatch --once as nobody: $(cat "$T/kvwatch-nobody.log")"
expect_eq "$(dump_sizes)" "$(want_sizes)" "a volume kvwatch's user may not search: the claims"
grep -q "sizes: 0 of 8 files differ .*; 8 not measured (0 missing, 0 refused, 8 permission denied to kvwatch's user, 0 other errors)" \
	"$T/kvwatch-nobody.log" || fail "no summary line: $(cat "$T/kvwatch-nobody.log")"
ok "one line says the files were not reachable"
sed -i "s|^files_volume = .*|files_volume = \"$T/locked/vol\";|" "$T/nobody.conf"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$KVW" -c "$T/nobody.conf" --once \
	>"$T/kvwatch-nobody2.log" 2>&1 || fail "kvwatch --once as nobody: $(cat "$T/kvwatch-nobody2.log")"
expect_eq "$(dump_sizes)" "$(want_sizes)" "a volume kvwatch's user may not open: the claims"
grep -q "files_volume \"$T/locked/vol\": Permission denied; sizes are the KV store's, not measured" \
	"$T/kvwatch-nobody2.log" || fail "no line about the volume: $(cat "$T/kvwatch-nobody2.log")"
expect_eq "$(grep -c 'files_volume' "$T/kvwatch-nobody2.log")" 1 "one line about the volume"
chmod 0755 "$T/files/s"

stop_fused
for pid in "$DAVD_PID" "$APID_PID"; do
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	expect_eq "$rc" 0 "a reader exits 0 on SIGTERM"
done
check_sanitizer
if grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T"/kvwatch*.log "$T/davd.log" "$T/apid.log"; then
	fail "sanitizer report in the logs above"
fi
ok "no sanitizer report"
