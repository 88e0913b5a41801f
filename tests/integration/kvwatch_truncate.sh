#!/usr/bin/env bash
# kvwatch survives its published file being cut or rewritten under it: the
# file is published read-only (0444); `truncate -s 4096 vfs.snapshot` (SIGBUS on
# the pages kvwatch maps back) and an older snapshot copied over it in place
# are noticed, reported in one line, and everything is loaded again from Redis;
# the worker keeps running and the next generation is whole.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis
kv_load 3000
kv_conf cut "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;"
kv_start cut
kv_wait 20 '.files == 3000 and .kv.connected' "first generation: 3000 files"
expect_eq "$(stat -c %a "$RUN/vfs.snapshot")" 444 "the published file's mode"
cp "$RUN/vfs.snapshot" "$T/old.snapshot"

change() { # change I TITLE: a live update of file I
	rcli set "meta-sort:file:$(kv_gen_id "$1"):title" "$2" >/dev/null
	kv_publish "{\"changes\": [{\"action\": \"update\", \"hashId\": \"$(kv_gen_id "$1")\"}]}"
}

# Cut: the next patch reads past the new end.
chmod u+w "$RUN/vfs.snapshot"
truncate -s 4096 "$RUN/vfs.snapshot"
change 0 "After Cut"
wait_for 10 grep -q "was cut or rewritten under kvwatch" "$T/kvwatch-cut.log" ||
	fail "a cut file is not noticed"
kv_alive
wait_for 20 kv_has_path "/Movies/After Cut (1950)/After Cut.mkv" ||
	fail "the change after the cut is missing"
kv_wait 5 '.files == 3000 and .kv.connected' "after a cut: a whole tree again"
ok "after a cut: the change is there"

# Rewritten in place with an older snapshot of the same size.
n=$(grep -c "was cut or rewritten" "$T/kvwatch-cut.log")
chmod u+w "$RUN/vfs.snapshot"
cat "$T/old.snapshot" >"$RUN/vfs.snapshot"
change 10 "After Copy"
wait_for 10 sh -c "[ \$(grep -c 'was cut or rewritten' '$T/kvwatch-cut.log') -gt $n ]" ||
	fail "a file rewritten in place is not noticed"
kv_alive
wait_for 20 kv_has_path "/Movies/After Copy (1960)/After Copy.mkv" ||
	fail "the change after the rewrite is missing"
kv_wait 5 '.files == 3000 and .kv.connected' "after a rewrite: a whole tree again"
kv_has_path "/Movies/After Cut (1950)/After Cut.mkv" || fail "the earlier change was lost"
ok "after a rewrite: both changes are there"
kv_stop
