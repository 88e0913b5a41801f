#!/usr/bin/env bash
# kvwatch_hostile: what a hostile or careless meta-sort writes, through a real
# redis-server, meta-fuse-kvwatch and a real mount of meta-fuse-fused.
#   - 20,000 disc-rip files with one rendered name (BDMV/STREAM/00000.m2ts) in one
#     folder: --once finishes (it was quadratic and hung), the " (n)" follow the
#     hash-id order, and a kvwatch loading them answers SIGTERM at once;
#   - sizes missing, not a number, beyond 2^63 or wrong: stat in the mount shows
#     the bytes a read returns, and the unusable ones are counted;
#   - times past 2262 (ISO and epoch), one far in the future: no abort under the
#     sanitizers, counted, and the folder's time is its newest plausible child's;
#   - titles of dots, of "/", of 100 KB, with control and bidi characters, a
#     reserved device name, absurd season/episode/year: every name is safe and
#     none starts with a dot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"
. "$(dirname "$0")/fused_lib.sh"

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
start_redis
DUPS=20000

# --- files with one name ---
awk -v n=$DUPS 'BEGIN { for (i = 0; i < n; i++)
	printf "SET meta-sort:file:dup%06d:filePath BDMV/STREAM/00000.m2ts\r\n", i }' |
	rcli --pipe >/dev/null || fail "loading $DUPS same-name files"

# --- sizes: real files under the volume, the KV store's word about them wrong ---
mkdir -p "$T/files/media"
src() { # src NAME BYTES MTIME
	head -c "$2" /dev/urandom >"$T/files/media/$1"
	touch -d "@$3" "$T/files/media/$1"
}
src nosize.mkv 1234 1600000000
src badsize.mkv 2345 1600000000
src hugesize.mkv 3456 1600000000
src wrongsize.mkv 4567 1600000000
rcli mset meta-sort:file:nosize:filePath media/nosize.mkv \
	meta-sort:file:nosize:mtime 1700000000 \
	meta-sort:file:badsize:filePath media/badsize.mkv meta-sort:file:badsize:size 12kB \
	meta-sort:file:hugesize:filePath media/hugesize.mkv \
	meta-sort:file:hugesize:size 18446744073709551615 \
	meta-sort:file:wrongsize:filePath media/wrongsize.mkv \
	meta-sort:file:wrongsize:size 10 >/dev/null

# --- times ---
rcli mset meta-sort:file:iso2300:filePath media/iso2300.mkv \
	meta-sort:file:iso2300:size 1 meta-sort:file:iso2300:mtime 2300-01-01T00:00:00Z \
	meta-sort:file:epochwrap:filePath media/epochwrap.mkv \
	meta-sort:file:epochwrap:size 1 meta-sort:file:epochwrap:mtime 9999999999 \
	meta-sort:file:year2100:filePath media/year2100.mkv \
	meta-sort:file:year2100:size 1 meta-sort:file:year2100:mtime 4102444800 >/dev/null

# --- names and absurd values ---
long=$(head -c 102400 /dev/zero | tr '\0' 'x')
rcli mset meta-sort:file:dots:filePath m/a.mkv meta-sort:file:dots:title "....." \
	meta-sort:file:dots:size 1 \
	meta-sort:file:slash:filePath m/b.mkv meta-sort:file:slash:title "/" \
	meta-sort:file:slash:size 1 \
	meta-sort:file:long:filePath m/c.mkv meta-sort:file:long:title "$long" \
	meta-sort:file:long:size 1 \
	meta-sort:file:ctl:filePath m/d.mkv meta-sort:file:ctl:title $'a\x1b[31mred\tb\xe2\x80\xaevkm' \
	meta-sort:file:ctl:size 1 \
	meta-sort:file:badutf:filePath m/e.mkv meta-sort:file:badutf:title $'caf\xc3' \
	meta-sort:file:badutf:size 1 \
	meta-sort:file:con:filePath m/f.mkv meta-sort:file:con:title "CON" \
	meta-sort:file:con:size 1 \
	meta-sort:file:tv:filePath m/g.mkv meta-sort:file:tv:title "Show" \
	meta-sort:file:tv:season -1 meta-sort:file:tv:episode 99999999999999999999999 \
	meta-sort:file:tv:size 1 \
	meta-sort:file:year:filePath m/h.mkv meta-sort:file:year:title "Film" \
	meta-sort:file:year:year -99999999999 meta-sort:file:year:size 1 \
	meta-sort:file:hidden:filePath m/.hidden.mkv meta-sort:file:hidden:size 1 >/dev/null

kv_conf once "redis_url = \"redis://127.0.0.1:$REDIS_PORT\";" "files_volume = \"$T/files\";"
timeout 120 "$KVW" -c "$T/once.conf" --once 2>"$T/once.log" ||
	fail "--once did not finish (rc $?): $(tail -n 5 "$T/once.log")"
ok "--once with $DUPS same-name files finishes"
if grep -q "runtime error:\|AddressSanitizer" "$T/once.log"; then
	fail "sanitizer report from kvwatch: $(grep -m3 "runtime error:\|Sanitizer" "$T/once.log")"
fi
ok "no sanitizer report from kvwatch"

kv_dump >"$T/dump.jsonl"
hdr() { sed -n 1p "$T/dump.jsonl" | jq -r "$1"; }
node() { jq -c --arg p "$1" 'select(.path == $p)' "$T/dump.jsonl"; }

# The " (n)" go by hash-id rank: dup000000 keeps the name, dup000001 is (2) ...
expect_eq "$(grep -c '"/Other/00000[ .]' "$T/dump.jsonl")" $DUPS "every same-name file is in the tree"
expect_eq "$(node /Other/00000.m2ts | jq -r .hashId)" dup000000 "the first by hash id keeps the name"
expect_eq "$(node '/Other/00000 (2).m2ts' | jq -r .hashId)" dup000001 "the second is (2)"
expect_eq "$(node "/Other/00000 ($DUPS).m2ts" | jq -r .hashId)" dup0$((DUPS - 1)) "the last is ($DUPS)"

# Unusable sizes and times are counted, not skipped.
reason() { hdr "[.skippedReasons[] | select(.reason | startswith(\"$1\")) | .count][0]"; }
expect_eq "$(reason "size missing")" $((DUPS + 3)) "files without a usable size are counted"
expect_eq "$(reason "mtime or ctime")" 2 "unusable times are counted"
expect_eq "$(hdr .skipped)" 0 "a file without a usable size or time is not skipped"

# No name starts with a dot unless the source's does; every name is safe.
bad=$(jq -r 'select(.path != "/") | .path' "$T/dump.jsonl" |
	awk -F/ '{ for (i = 2; i <= NF; i++) if ($i ~ /^\./ && $i != ".hidden.mkv") print }')
expect_eq "$bad" "" "no rendered name starts with a dot"
bad=$(jq -r '.path' "$T/dump.jsonl" | LC_ALL=C grep -P '[\x00-\x1f\x7f]|\xe2\x80\xae' || true)
expect_eq "$bad" "" "no control or bidi override character in a name"
bad=$(jq -r 'select(.path != "/") | .path' "$T/dump.jsonl" |
	awk -F/ '{ for (i = 2; i <= NF; i++) if (length($i) > 255) print }' | wc -l)
expect_eq "$bad" 0 "no name longer than 255 bytes"

# --- through the mount ---
fused_config
start_fused
for f in nosize:1234 badsize:2345 hugesize:3456; do
	name=${f%%:*} want=${f#*:}
	p="$MNT/Other/$name.mkv"
	expect_eq "$(stat -c %s "$p")" "$want" "$name: stat shows the source's size"
	expect_eq "$(wc -c <"$p")" "$want" "$name: a read returns that many bytes"
	cmp -s "$p" "$T/files/media/$name.mkv" || fail "$name: contents differ"
done
p="$MNT/Other/wrongsize.mkv"
# The first open after the lookup (the kernel holding the snapshot's 10): wc -c
# prints what fstat says, so both the size and the bytes are checked at once.
expect_eq "$(wc -c <"$p")" 4567 "wrongsize: fstat at the first open shows the source's size"
expect_eq "$(cat "$p" | wc -c)" 4567 "wrongsize: a read returns every byte of the source"
expect_eq "$(stat -c %s "$p")" 4567 "wrongsize: after an open, stat shows the source's size"
cmp -s "$p" "$T/files/media/wrongsize.mkv" || fail "wrongsize: contents differ"
ok "wrongsize: contents equal the source"
expect_eq "$(stat -c %Y "$MNT/Other/year2100.mkv")" 4102444800 "a far-future time is shown as it is"
expect_eq "$(stat -c %Y "$MNT/Other")" 1700000000 "the folder's time is its newest plausible child's"
expect_eq "$(stat -c %Y "$MNT/Other/iso2300.mkv")" 0 "an out-of-range time is ignored"
ls "$MNT/Other" >"$T/other.ls"
expect_eq "$(grep -c '^00000' "$T/other.ls")" $DUPS "the mount lists every same-name file"
stop_fused
check_sanitizer

# --- a kvwatch loading the same-name files answers SIGTERM ---
kv_conf daemon "redis_url = \"redis://127.0.0.1:$REDIS_PORT\";"
start_bg kvwatch "$KVW" -c "$T/daemon.conf"
pid=$LAST_PID
sleep 0.3
kill -TERM "$pid"
wait_for 10 bash -c "! kill -0 $pid" || fail "kvwatch did not exit within 10 s of SIGTERM"
ok "kvwatch answers SIGTERM while loading"
