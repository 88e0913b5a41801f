#!/usr/bin/env bash
# kvwatch reloads (SIGHUP): the new configuration is parsed beside the running
# one; a broken one is refused and nothing changes; new rules re-place the
# records kvwatch holds without a single Redis command (INFO commandstats before
# and after); rules that need a property the records lack load once; a new
# source (a URL with a database) reconnects and loads.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis
kv_load 1000
url="redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;"
rules() {
	cat <<EOR
rules = (
	{ name = "movies"; priority = 10; when = { property = "mediaType"; op = "equals"; value = "movie"; };
	  template = "$1"; },
	{ name = "rest"; template = "/Rest/{fileName}"; }
);
EOR
}
kv_conf reload "$url" "$(rules '/Films/{title} - {year}.{extension}')"
kv_start reload
kv_wait 20 '.files == 1000 and .kv.connected' "first generation: 1000 files"
kv_has_path "/Films/Movie 0 - 1950.mkv" || fail "the first rules did not place Movie 0"

# Every command the server has run but INFO itself (the probe).
commands() {
	rcli info commandstats | tr -d '\r' | grep '^cmdstat_' | grep -v '^cmdstat_info:' |
		sed 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1=\2/' | sort
}

# A broken file: refused, one line, nothing published.
gen=$(kv_hdr .generation)
cp "$T/reload.conf" "$T/reload.good"
echo 'rules = ( { name = "x"; template = "{unterminated"; } );' >"$T/reload.conf"
kill -HUP "$KV_PID"
wait_for 5 grep -q "reload: .*keeping the running configuration" "$T/kvwatch-reload.log" ||
	fail "a broken configuration on SIGHUP is not reported"
kv_alive
# A change made now still shows: the running configuration is intact.
rcli set "meta-sort:file:$(kv_gen_id 0):title" "Movie Zero" >/dev/null
kv_publish "{\"changes\": [{\"action\": \"update\", \"hashId\": \"$(kv_gen_id 0)\"}]}"
kv_wait 10 ".generation == $((gen + 1))" "broken reload: refused, the worker still follows changes"
kv_has_path "/Films/Movie Zero - 1950.mkv" || fail "the running rules were not kept"
ok "broken reload: the running rules stay"

# runtime_dir cannot move under the readers.
sed "s|^runtime_dir = .*|runtime_dir = \"$T\";|" "$T/reload.good" >"$T/reload.conf"
kill -HUP "$KV_PID"
wait_for 5 grep -q "reload: runtime_dir cannot change" "$T/kvwatch-reload.log" ||
	fail "a new runtime_dir on SIGHUP is not refused"
ok "reload: runtime_dir cannot move"

# New rules, the same properties: re-placed without a Redis command.
before=$(commands)
gen=$(kv_hdr .generation)
kv_conf reload "$url" "$(rules '/Movies/{title} ({year})/{title}.{extension}')"
kill -HUP "$KV_PID"
kv_wait 10 ".generation == $((gen + 1)) and .files == 1000" "new rules: one new generation"
kv_has_path "/Movies/Movie 1 (1951)/Movie 1.mkv" || fail "new rules: Movie 1 not re-placed"
if kv_has_path "/Films/Movie 1 - 1951.mkv"; then fail "new rules: the old path stays"; fi
ok "new rules: every record re-placed"
expect_eq "$(commands)" "$before" "Redis commands run by a rules reload (commandstats)"
grep -q "full load" <(sed -n '/placing 1000 records with the new rules/,$p' "$T/kvwatch-reload.log") &&
	fail "a rules reload ran a full load"
ok "rules reload: no full load"

# The same file again: nothing changes, nothing is published.
gen=$(kv_hdr .generation)
kill -HUP "$KV_PID"
wait_for 5 grep -q "reloading the configuration: nothing changed" "$T/kvwatch-reload.log" ||
	fail "an unchanged configuration is not recognised"
# A live change is the marker: the next generation is its, not the reload's.
rcli set "meta-sort:file:$(kv_gen_id 1):title" "Movie One" >/dev/null
kv_publish "{\"changes\": [{\"action\": \"update\", \"hashId\": \"$(kv_gen_id 1)\"}]}"
kv_wait 10 ".generation >= $((gen + 1))" "a live change after an empty reload"
expect_eq "$(kv_hdr .generation)" "$((gen + 1))" "generations after a reload that changed nothing and one change"
kv_has_path "/Movies/Movie One (1951)/Movie One.mkv" || fail "the live change is missing"

# Rules that need a property the records lack (genre): one full load fetches it.
scans=$(rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_scan:calls=\([0-9]*\),.*/\1/p')
rcli set "meta-sort:file:$(kv_gen_id 2):genre" "Drama" >/dev/null
gen=$(kv_hdr .generation)
kv_conf reload "$url" "$(rules '/Movies/{genre|\"None\"}/{title}.{extension}')"
kill -HUP "$KV_PID"
wait_for 15 kv_has_path "/Movies/Drama/Movie 2.mkv" || fail "new property: genre not fetched"
ok "rules with a new property: fetched"
now=$(rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_scan:calls=\([0-9]*\),.*/\1/p')
[ "$now" -gt "$scans" ] || fail "rules with a new property: expected a full load (SCAN), got none"
ok "rules with a new property: a full load ran"

# A new source: reconnects and loads (the data is the same: no new files).
loads=$(grep -c "full load from" "$T/kvwatch-reload.log")
sed -i "s|redis://127.0.0.1:$REDIS_PORT\"|redis://127.0.0.1:$REDIS_PORT/0\"|" "$T/reload.conf"
kill -HUP "$KV_PID"
wait_for 10 sh -c "[ \$(grep -c 'full load from' '$T/kvwatch-reload.log') -gt $loads ]" ||
	fail "a new kv.redis_url did not load"
kv_alive
expect_eq "$(kv_hdr .files)" 1000 "files after a new source"
ok "new source: reconnected and loaded"
kv_stop
