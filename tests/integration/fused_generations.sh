#!/bin/bash
# fused_generations: new snapshots while mounted, with kernel cache timeouts of
# ten minutes.  A new vfs.snapshot (inotify) or SIGHUP switches generations and
# the change is visible at once: added, removed and changed files, a changed
# file's new bytes (its cached pages dropped); an open file keeps reading across
# generations, even after its source is deleted; a corrupt snapshot is refused
# with one log line and the last good tree stays; a runtime directory moved
# away and made again is watched again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"

fused_config attr_ttl_ms=600000 dir_ttl_ms=600000
make_library 5 4
publish --generation 1
start_fused --check-interval 0

M1="$MNT/Movies/Movie Ünïcode 1 (1991)/Movie Ünïcode 1.mkv"
M2="$MNT/Movies/Movie Ünïcode 2 (1992)/Movie Ünïcode 2.mkv"
M3="$MNT/Movies/Movie Ünïcode 3 (1993)/Movie Ünïcode 3.mkv"
NEW="$MNT/Movies/Brand New (2024)/Brand New.mkv"
BIG="$MNT/Movies/Big One (2020)/Big One.mkv"

# Fill the kernel's caches: listings, attributes, pages, and a negative entry.
ls -R "$MNT" >/dev/null
old_m2=$(md5sum <"$M2")
md5sum <"$M3" >/dev/null
stat "$NEW" >/dev/null 2>&1 && fail "the new file exists too early"
exec 3<"$BIG"
dd bs=1000 count=1 <&3 >/dev/null 2>&1
rest_md5=$(tail -c +1001 "$T/files/media2/big.mkv" | md5sum)

# Generation 2: M1 removed (and its source deleted), M2's source rewritten with
# another size, a new movie added, big.mkv's record removed (its source stays).
rm "$T/files/media1/Movies/movie 1/Movie.1.mkv"
head -c 7777 /dev/urandom >"$T/files/media1/Movies/movie 2/Movie.2.mkv"
mkdir -p "$T/files/media1/Movies/new"
head -c 999 /dev/urandom >"$T/files/media1/Movies/new/new.mkv"
grep -v '"hashId": "\(m1\|m2\|big\)"' "$T/records.jsonl" >"$T/r2" && mv "$T/r2" "$T/records.jsonl"
record m2 "media1/Movies/movie 2/Movie.2.mkv" '"title": "Movie Ünïcode 2", "year": 1992'
record new "media1/Movies/new/new.mkv" '"title": "Brand New", "year": 2024'
publish --generation 2
wait_for 5 grep -q "serving generation 2 (inotify)" "$T/fused.log" || fail "generation 2 not loaded"
ok "a new vfs.snapshot is noticed by inotify"

[ -e "$M1" ] && fail "a removed file is still there"
ok "a removed file is gone at once"
ls "$MNT/Movies" | grep_quiet "Movie Ünïcode 1 (1991)" && fail "its directory is still listed"
ok "its directory is no longer listed"
expect_eq "$(stat -c %s "$NEW" 2>&1)" 999 "an added file is there at once (no stale negative entry)"
ls "$MNT/Movies" | grep_quiet "Brand New (2024)" || fail "the added directory is not listed"
ok "and listed"
expect_eq "$(stat -c %s "$M2")" 7777 "a changed file has its new size at once"
expect_eq "$(md5sum <"$M2")" "$(md5sum <"$T/files/media1/Movies/movie 2/Movie.2.mkv")" \
	"and its new content (cached pages dropped)"
[ "$(md5sum <"$M2")" != "$old_m2" ] || fail "the content did not change"
expect_eq "$(md5sum <"$M3")" "$(md5sum <"$T/files/media1/Movies/movie 3/Movie.3.mkv")" \
	"an unchanged file reads the same"

# The open file: its path left the tree in generation 2; delete its source too.
[ -e "$BIG" ] && fail "big.mkv should be gone from the tree"
rm "$T/files/media2/big.mkv"
expect_eq "$(md5sum <&3)" "$rest_md5" "an open file reads on after its path and its source are gone"
expect_eq "$(stat -L -c %s /dev/fd/3)" 3158073 "and fstat still answers"
exec 3<&-

# SIGHUP: a snapshot put in place without an event inotify watches (a hard link).
mkdir -p "$T/stage"
grep -v '"hashId": "e1"' "$T/records.jsonl" >"$T/r3" && mv "$T/r3" "$T/records.jsonl"
publish --generation 3 --runtime-dir "$T/stage"
E1=$(find "$MNT/TV" -name '*E01.mkv' | head -1)
[ -n "$E1" ] || fail "episode 1 not found"
rm "$T/run/vfs.snapshot"
ln "$T/stage/vfs.snapshot" "$T/run/vfs.snapshot"
kill -HUP "$FUSED_PID"
wait_for 5 grep -q "serving generation 3 (SIGHUP)" "$T/fused.log" || fail "SIGHUP did not reload"
# The control thread handles events in order: a load caused by the link would
# have been logged as "(inotify)", and SIGHUP would have found it unchanged.
grep -q "serving generation 3 (inotify)" "$T/fused.log" && fail "generation 3 loaded without SIGHUP"
[ -e "$E1" ] && fail "a file removed in generation 3 is still there"
ok "SIGHUP loads the new snapshot and its change is visible at once"

# A corrupt snapshot: refused, generation 3 stays.
cp "$T/run/vfs.snapshot" "$T/bad"
printf 'garbage' | dd of="$T/bad" bs=1 seek=300 conv=notrunc 2>/dev/null
mv "$T/bad" "$T/run/vfs.snapshot"
wait_for 5 grep -q "keeping generation 3" "$T/fused.log" || fail "the corrupt snapshot was not refused"
expect_eq "$(grep -c "keeping generation 3" "$T/fused.log")" 1 "refused with one log line"
expect_eq "$(stat -c %s "$NEW")" 999 "the last good tree is still served"
head -c 100 "$T/stage/vfs.snapshot" >"$T/run/vfs.snapshot.tmp"
mv "$T/run/vfs.snapshot.tmp" "$T/run/vfs.snapshot"
wait_for 5 bash -c "[ \$(grep -c 'keeping generation 3' '$T/fused.log') = 2 ]" ||
	fail "a truncated snapshot was not refused"
ok "a truncated snapshot is refused too"
# Wait for fused's answer to this SIGHUP (a debug line), then count.
hups=$(grep -c "reload (SIGHUP)" "$T/fused.log")
kill -HUP "$FUSED_PID"
wait_for 5 bash -c "[ \$(grep -c 'reload (SIGHUP)' '$T/fused.log') -gt $hups ]" ||
	fail "SIGHUP was not answered"
expect_eq "$(grep -c "keeping generation 3" "$T/fused.log")" 2 "the same bad file is not reported twice"

# And a good one after the bad ones.
publish --generation 4
wait_for 5 grep -q "serving generation 4" "$T/fused.log" || fail "generation 4 not loaded"
ok "a good snapshot after bad ones is served"

# The runtime directory moved away and made again: fused watches the new one.
mv "$T/run" "$T/run.gone"
wait_for 5 grep -q "went away, watching for it again" "$T/fused.log" ||
	fail "the runtime directory going away was not noticed"
mkdir "$T/run"
publish --generation 5
wait_for 10 grep -q "serving generation 5" "$T/fused.log" ||
	fail "a snapshot in the new runtime directory was not served"
expect_eq "$(stat -c %s "$NEW")" 999 "the tree of the new runtime directory is served"
ok "a runtime directory made again is watched again"

stop_fused
check_sanitizer
