#!/usr/bin/env bash
# kvwatch's change hook: after a published generation the hook gets the changed
# virtual directories on stdin and the generation in META_FUSE_GENERATION;
# bursts are debounced into one run; a slow hook never delays publishing and is
# killed with kvwatch; a failing hook is logged.  The shipped example hooks
# (Plex, Jellyfin, rclone) are run against stand-in curl and rclone commands.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis
kv_load 20
H="$T/hooks"
mkdir -p "$H"
cat >"$T/hook.sh" <<EOH
#!/bin/sh
cat >"$H/\$META_FUSE_GENERATION.dirs"
echo "\$META_FUSE_GENERATION \$META_FUSE_DIR_COUNT \${NOTIFY_SOCKET:-none}" >>"$H/runs"
EOH
chmod +x "$T/hook.sh"
kv_conf hook "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;" \
	"hooks = { on_change = \"$T/hook.sh\"; debounce_ms = 1000; };"
kv_start hook
kv_wait 20 '.files == 20' "20 files"
wait_for 5 test -s "$H/runs" || fail "the hook did not run after the first generation"
gen=$(kv_hdr .generation)
expect_eq "$(cat "$H/runs")" "$gen 1 none" "first run: generation, one line, no NOTIFY_SOCKET"
expect_eq "$(cat "$H/$gen.dirs")" "/" "first generation: everything changed"

add() { # add ID TITLE YEAR
	rcli mset "meta-sort:file:$1:filePath" "media1/Movies/$2 ($3)/$2.mkv" \
		"meta-sort:file:$1:title" "$2" "meta-sort:file:$1:year" "$3" >/dev/null
	kv_publish "{\"changes\": [{\"action\": \"add\", \"hashId\": \"$1\"}]}"
}

add inception Inception 2010
kv_wait 10 '.files == 21' "Inception added"
gen=$(kv_hdr .generation)
wait_for 5 grep -q "^$gen " "$H/runs" || fail "the hook did not run for generation $gen"
expect_eq "$(sort "$H/$gen.dirs" | tr '\n' '|')" "/Movies|/Movies/Inception (2010)|" \
	"the changed directories"

# Same path, new size: only its folder changed.
rcli set "meta-sort:file:$(kv_gen_id 3):size" 42 >/dev/null
kv_publish "{\"changes\": [{\"action\": \"update\", \"hashId\": \"$(kv_gen_id 3)\"}]}"
kv_wait 10 ".generation > $gen" "size update published"
gen=$(kv_hdr .generation)
wait_for 5 grep -q "^$gen " "$H/runs" || fail "the hook did not run for generation $gen"
expect_eq "$(cat "$H/$gen.dirs")" "/Movies/Movie 3 (1953)" "a changed file: its folder only"

# A burst within the debounce time: one run with every folder.
runs=$(wc -l <"$H/runs")
add a1 Alpha 2001
sleep 0.12
add a2 Beta 2002
sleep 0.12
add a3 Gamma 2003
kv_wait 10 '.files == 24' "burst published"
gen=$(kv_hdr .generation)
wait_for 5 grep -q "^$gen " "$H/runs" || fail "the hook did not run for the burst"
expect_eq "$(grep -c . "$H/$gen.dirs")" 4 "the burst's run lists /Movies and three folders"
# One more change, and its run: between the two, no other run came.
rcli set "meta-sort:file:$(kv_gen_id 4):size" 43 >/dev/null
kv_publish "{\"changes\": [{\"action\": \"update\", \"hashId\": \"$(kv_gen_id 4)\"}]}"
kv_wait 10 ".generation > $gen" "a later update published"
later=$(kv_hdr .generation)
wait_for 5 grep -q "^$later " "$H/runs" || fail "the hook did not run for generation $later"
expect_eq "$(($(wc -l <"$H/runs") - runs))" 2 "a burst is one hook run (then the later one)"
kv_stop

# A slow hook does not delay publishing, and goes when kvwatch goes.
cat >"$T/slow.sh" <<EOH
#!/bin/sh
echo "\$META_FUSE_GENERATION" >>"$H/slow.runs"
echo \$\$ >"$H/slow.pid"
exec sleep 60
EOH
chmod +x "$T/slow.sh"
kv_conf slow "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;" \
	"hooks = { on_change = \"$T/slow.sh\"; debounce_ms = 0; };"
kv_start slow
kv_wait 20 '.files == 24 and .kv.connected' "slow hook: started"
# The tree is the one of the previous run: nothing changed, no hook for it.  The
# first run is the one of the next change (a run for the start would still be
# sleeping, and hold that one back).
add b1 Delta 2004
kv_wait 5 ".files == 25" "slow hook: a change"
wait_for 5 test -s "$H/slow.pid" || fail "the slow hook did not start"
expect_eq "$(cat "$H/slow.runs")" "$(kv_hdr .generation)" "the hook's one run, for the change"
ok "no change, no hook"
start=$SECONDS
add b2 Zeta 2006
kv_wait 5 ".files == 26" "published while the hook runs"
[ $((SECONDS - start)) -le 3 ] || fail "publishing waited for the hook"
kv_stop
hook_pid=$(cat "$H/slow.pid")
# Gone: not running (a zombie left to an init that does not reap counts as gone).
state=$(ps -o stat= -p "$hook_pid" 2>/dev/null || true)
case "$state" in
"" | Z*) ;;
*) fail "the hook outlived kvwatch (pid $hook_pid, state $state)" ;;
esac
ok "the hook is gone with kvwatch"

# A failing hook is logged, and the worker carries on.
kv_conf failing "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;" \
	"hooks = { on_change = \"exit 3\"; debounce_ms = 0; };"
kv_start failing
kv_wait 20 '.files == 26 and .kv.connected' "failing hook: started"
add c1 Epsilon 2005
wait_for 5 grep -q "failed with exit status 3" "$T/kvwatch-failing.log" ||
	fail "the failing hook is not logged"
ok "a failing hook is logged"
add c2 Eta 2007
kv_wait 5 ".files == 28" "still publishing after a failing hook"
kv_stop

# The example hooks, against stand-ins that record their arguments.
mkdir -p "$T/bin"
for tool in curl rclone; do
	cat >"$T/bin/$tool" <<EOS
#!/bin/sh
for a in "\$@"; do printf '%s\n' "\$a"; done >>"$T/$tool.args"
echo -- >>"$T/$tool.args"
EOS
	chmod +x "$T/bin/$tool"
done
hooks="$MF_SOURCE_DIR/etc/hooks"
printf '/Movies/Inception (2010)\n/TV/Show 1/Season 01\n' |
	PATH="$T/bin:$PATH" PLEX_TOKEN=tok PLEX_SECTIONS="Movies=1 TV=2" "$hooks/plex-scan.sh" ||
	fail "plex-scan.sh failed"
args=$(tr '\n' '|' <"$T/curl.args")
expect_match "$args" "/library/sections/1/refresh\|--data-urlencode\|path=/mnt/virtual/Movies/Inception \(2010\)\|" \
	"plex-scan.sh: a partial scan of the movie's folder in section 1"
expect_match "$args" "/library/sections/2/refresh\|--data-urlencode\|path=/mnt/virtual/TV/Show 1/Season 01\|" \
	"plex-scan.sh: the season folder in section 2"
rm -f "$T/curl.args"
printf '/Movies/A "quoted" (2010)\n' |
	PATH="$T/bin:$PATH" JELLYFIN_API_KEY=key "$hooks/jellyfin-refresh.sh" ||
	fail "jellyfin-refresh.sh failed"
body=$(grep -F '{"Updates"' "$T/curl.args")
expect_eq "$(jq -r '.Updates[0].Path' <<<"$body")" '/mnt/virtual/Movies/A "quoted" (2010)' \
	"jellyfin-refresh.sh: valid JSON naming the folder"
printf '/Movies/X (1999)\n/TV\n' | PATH="$T/bin:$PATH" "$hooks/rclone-refresh.sh" ||
	fail "rclone-refresh.sh failed"
expect_eq "$(tr '\n' '|' <"$T/rclone.args")" \
	"rc|--url|http://127.0.0.1:5572/|vfs/refresh|recursive=true|dir=Movies/X (1999)|dir2=TV|--|" \
	"rclone-refresh.sh: one vfs/refresh of both folders"
