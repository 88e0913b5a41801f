#!/bin/bash
# supervisor_demo: `meta-fuse demo` comes up (its own redis-server, the sample
# library, the suite through the supervisor), serves the sample library on its
# mount, names the parts that are not built, and on Ctrl-C (SIGINT) goes down
# clean: exit 0, no mount, no process, its directory removed.
. "$(dirname "$0")/lib.sh"
need_root_fuse
need redis-server
[ -x "$BIN/meta-fuse" ] || skip "meta-fuse is not built"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}"
chmod 755 "$T"
export TMPDIR="$T"

start_bg demo "$BIN/meta-fuse" demo
DEMO=$LAST_PID
t0=$(date +%s%3N)
wait_for 120 grep -q "meta-fuse demo is running" "$T/demo.log" || fail "the demo did not come up"
echo "# the demo came up in $(($(date +%s%3N) - t0)) ms (ASan build, machine shared)"
D=$(grep -o "$T/meta-fuse-demo\.[A-Za-z0-9]*" "$T/demo.log" | head -1)
[ -d "$D" ] || fail "no demo directory in the banner"
register_mount "$D/mnt"
expect_match "$(cat "$T/demo.log")" "16 sample files" "the banner counts the sample files"
[ -f "$D/mnt/Movies/Inception (2010)/Inception.mkv" ] || fail "no Inception in the mount: $(find "$D/mnt" | head)"
ok "the sample library is mounted"
expect_eq "$(stat -c %s "$D/mnt/TV/Breaking Bad/Season 01/Breaking Bad - S01E01.mkv")" 262144 "an episode with its size"
[ -f "$D/mnt/Anime/Cowboy Bebop/Season 01/Cowboy Bebop - S01E01.mkv" ] || fail "no anime"
ok "anime placed"
for w in davd apid; do
	[ -x "$BIN/meta-fuse-$w" ] && continue
	expect_match "$(cat "$T/demo.log")" "not built \(meta-fuse-$w\), not started" "the banner names $w as not built"
done
st=$("$BIN/meta-fuse" status --runtime-dir "$D/run")
expect_match "$st" "fused +running" "status through the demo's runtime directory"
RP=$(pgrep -f "redis-server 127.0.0.1:$(grep -o 'redis-cli -p [0-9]*' "$T/demo.log" | grep -o '[0-9]*$')")
[ -n "$RP" ] || fail "no redis-server of the demo"

kill -INT "$DEMO"
wait "$DEMO"
expect_eq "$?" 0 "the demo exits 0 on Ctrl-C"
grep -qs " $D/mnt fuse" /proc/mounts && fail "the demo left its mount"
ok "no mount left"
kill -0 "$RP" 2>/dev/null && fail "the demo left redis-server running"
ok "redis-server stopped"
[ -z "$(pgrep -f -- "-c $D/meta-fuse.conf")" ] || fail "workers left"
ok "no worker left"
[ ! -e "$D" ] || fail "the demo directory is still there"
ok "the demo directory is removed"
