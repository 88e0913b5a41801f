#!/usr/bin/env bash
# kvwatch --once: a full load of a generated library checked through
# `meta-fuse dump`; the spec's Inception example; both key layouts; dirty
# records refused and counted; keys outside the layout ignored; the generation
# goes on across runs; an unreachable Redis is one clear error and exit 75.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis
kv_load 1000
# The spec's example.
rcli mset meta-sort:file:inception:filePath "media1/Movies/Inception (2010)/Inception.mkv" \
	meta-sort:file:inception:title Inception meta-sort:file:inception:year 2010 \
	meta-sort:file:inception:size 2147483648 >/dev/null
# Dirty records: no filePath, a filePath leaving the volume, an absolute one;
# a file without a title (placed by the catch-all rule).
rcli mset meta-sort:file:nopath:title "No Path" \
	meta-sort:file:dotdot:filePath "../../etc/passwd" meta-sort:file:dotdot:title Evil \
	meta-sort:file:inner:filePath "media1/a/../../../etc/shadow" \
	meta-sort:file:absolute:filePath "/etc/passwd" \
	meta-sort:file:notitle:filePath "media9/loose/clip.mkv" >/dev/null
# Keys under file: that are not of the layout, and unrelated keys.
rcli mset "meta-sort:file:nosep" x "meta-sort:file:bad id:title" x "meta-sort:other:x" y \
	"unrelated" z >/dev/null

kv_conf once "redis_url = \"redis://127.0.0.1:$REDIS_PORT\";"
"$KVW" -c "$T/once.conf" --once 2>"$T/once.log" || fail "--once failed: $(cat "$T/once.log")"
expect_eq "$(kv_hdr .generation)" 1 "first generation is 1"
expect_eq "$(kv_hdr .files)" 1002 "every placed file is in the tree"
expect_eq "$(kv_hdr .kv.connected)" true "state: connected"
expect_eq "$(kv_hdr .kv.leader)" "redis://127.0.0.1:$REDIS_PORT/0" "state: the leader, without credentials"
expect_eq "$(kv_hdr .categories.Movies)" 501 "500 generated movies and Inception"
expect_eq "$(kv_hdr .categories.TV)" 300 "series episodes"
expect_eq "$(kv_hdr .categories.Anime)" 100 "anime episodes"
expect_eq "$(kv_hdr .categories.Other)" 101 "untitled files"
expect_eq "$(kv_hdr .skipped)" 4 "dirty records are counted"
expect_eq "$(kv_hdr '[.skippedReasons[] | select(.reason == "no filePath") | .count][0]')" 1 \
	"no filePath counted"
expect_eq "$(kv_hdr '[.skippedReasons[] | select(.reason == "filePath leaves the files volume") | .count][0]')" 3 \
	"unsafe filePaths counted"

node=$(kv_node "/Movies/Inception (2010)/Inception.mkv")
[ -n "$node" ] || fail "Inception is not at /Movies/Inception (2010)/Inception.mkv"
expect_eq "$(jq -r .source <<<"$node")" "media1/Movies/Inception (2010)/Inception.mkv" "Inception's source"
expect_eq "$(jq -r .hashId <<<"$node")" inception "Inception's hash id"
expect_eq "$(jq -r .size <<<"$node")" 2147483648 "Inception's size"
expect_eq "$(jq -r .rule <<<"$node")" movies "Inception's rule"
kv_has_path "/Movies/Movie 0 (1950)/Movie 0.mkv" || fail "generated movie 0 missing"
kv_has_path "/TV/Show 1/Season 01/Show 1 - S01E05.mkv" || fail "generated episode 15 missing"
kv_has_path "/Anime/Anime 2/Season 01/Anime 2 - S01E08.mkv" || fail "generated anime 28 missing"
kv_has_path "/Other/file999.iso" || fail "generated file 999 missing"
kv_has_path "/Other/clip.mkv" || fail "the untitled file is not under /Other"
ok "generated paths"
if kv_dump | tail -n +2 | jq -r 'select(.source) | .source' | grep_quiet -E '(^/|(^|/)\.\.(/|$))'; then
	fail "a source leaving the files volume is served"
fi
ok "no unsafe source is served"
node=$(kv_node "/Movies/Movie 3 (1953)/Movie 3.mkv")
expect_eq "$(jq -r .size <<<"$node")" 1000003 "a generated file's size"

# Again: the generation goes on.
"$KVW" -c "$T/once.conf" --once 2>"$T/once2.log" || fail "second --once failed"
expect_eq "$(kv_hdr .generation)" 2 "the generation goes on across runs"

# The upstream layout: file:{id}/{property}, empty prefix, in database 3.
rm -f "$RUN/vfs.snapshot"
kv_load 200 5000 "" "/" 3
rcli -n 3 set "file:xyz/video/codec" h264 >/dev/null
rcli -n 3 mset "file:xyz/filePath" "media1/Movies/Up (2009)/Up.mkv" "file:xyz/title" Up \
	"file:xyz/year" 2009 >/dev/null
kv_conf upstream "redis_url = \"redis://127.0.0.1:$REDIS_PORT/3\"; prefix = \"\"; separator = \"/\";"
"$KVW" -c "$T/upstream.conf" --once 2>"$T/upstream.log" || fail "--once (upstream layout) failed"
expect_eq "$(kv_hdr .files)" 201 "upstream layout: all files"
kv_has_path "/Movies/Up (2009)/Up.mkv" || fail "upstream layout: Up is missing"
kv_has_path "/Movies/Movie 5000 (1980)/Movie 5000.mkv" || fail "upstream layout: movie 5000 missing"
ok "upstream layout paths"
expect_eq "$(kv_hdr .kv.leader)" "redis://127.0.0.1:$REDIS_PORT/3" "upstream layout: database in the leader URL"

# A unix socket URL, and a password.
mkdir -p "$T/unix"
start_bg redis-unix redis-server --port 0 --unixsocket "$T/unix/r.sock" --save "" \
	--appendonly no --dir "$T/unix" --requirepass "s3cret pw"
wait_for 10 test -S "$T/unix/r.sock" || fail "redis on a unix socket did not start"
"$GEN" 10 | redis-cli -s "$T/unix/r.sock" -a "s3cret pw" --no-auth-warning --pipe >/dev/null
kv_conf unix "redis_url = \"unix://:s3cret%20pw@$T/unix/r.sock\";"
"$KVW" -c "$T/unix.conf" --once 2>"$T/unix.log" || fail "--once over a unix socket: $(cat "$T/unix.log")"
expect_eq "$(kv_hdr .files)" 10 "unix socket with a password"
if kv_hdr .kv.leader | grep_quiet s3cret; then fail "the password leaks into the snapshot"; fi
ok "no credentials in the snapshot"
kv_conf badpw "redis_url = \"unix://:wrong@$T/unix/r.sock\";"
rc=0
"$KVW" -c "$T/badpw.conf" --once 2>"$T/badpw.log" || rc=$?
expect_eq "$rc" 1 "a wrong password: exit 1"
expect_match "$(cat "$T/badpw.log")" "AUTH" "a wrong password is named"

# Nobody listening: one clear line, exit 75 (a restart may cure it), the
# snapshot untouched.
gen=$(kv_hdr .generation)
kv_conf down "redis_url = \"redis://127.0.0.1:$(free_port)\";"
rc=0
"$KVW" -c "$T/down.conf" --once 2>"$T/down.log" || rc=$?
expect_eq "$rc" 75 "unreachable Redis: exit 75"
expect_eq "$(wc -l <"$T/down.log")" 1 "unreachable Redis: one error line"
expect_match "$(cat "$T/down.log")" "cannot load from redis://127.0.0.1:[0-9]+/0: connect: Connection refused" \
	"unreachable Redis: a clear message"
expect_eq "$(kv_hdr .generation)" "$gen" "unreachable Redis: nothing published"

# A bad configuration and bad usage: exit 1.
echo 'kv = { separator = ""; };' >"$T/bad.conf"
rc=0
"$KVW" -c "$T/bad.conf" --once 2>"$T/bad.log" || rc=$?
expect_eq "$rc" 1 "bad configuration: exit 1"
rc=0
"$KVW" --no-such-option 2>/dev/null || rc=$?
expect_eq "$rc" 1 "bad usage: exit 1"
