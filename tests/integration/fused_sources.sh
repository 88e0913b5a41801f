#!/bin/bash
# fused_sources: sources that are gone, unreadable or hostile.  A deleted source
# gives ENOENT to its open and one log line, and the mount keeps working; a
# source that is a directory or a FIFO gives EIO (and never hangs); a filePath
# that leaves the volume (.., absolute, or a . component) never makes it into the tree; a symlink
# inside the volume pointing out of it is refused, one pointing within it is
# followed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"

fused_config
make_library 4 2
mkdir -p "$T/outside" "$T/files/media3/adir"
echo "secret" >"$T/outside/secret.mkv"
echo "inside" >"$T/files/media3/real.mkv"
ln -s "$T/outside/secret.mkv" "$T/files/media3/abs-out.mkv"
ln -s "../../outside/secret.mkv" "$T/files/media3/rel-out.mkv"
ln -s "real.mkv" "$T/files/media3/in.mkv"
mkfifo "$T/files/media3/fifo.mkv"
add() { printf '{"hashId": "%s", "filePath": "%s", "title": "%s", "size": %s}\n' "$1" "$2" "$3" "$4" >>"$T/records.jsonl"; }
add s1 "media3/abs-out.mkv" "Abs Out" 7
add s2 "media3/rel-out.mkv" "Rel Out" 7
add s3 "media3/in.mkv" "In Link" 7
add s4 "media3/fifo.mkv" "Fifo" 7
add s5 "media3/adir" "A Dir" 7
add s6 "../outside/secret.mkv" "Dotdot" 7
add s7 "$T/outside/secret.mkv" "Absolute" 7
add s8 "media3/./real.mkv" "Dot" 7
publish
start_fused

expect_eq "$(find "$MNT" -name '*Dotdot*' -o -name '*Absolute*' -o -name 'Dot*' | wc -l)" 0 \
	"filePaths with .., . or an absolute path are not in the tree"
expect_match "$("$BIN/meta-fuse" dump --runtime-dir "$T/run" | head -1)" \
	'"reason":"filePath leaves the files volume","example":"s[678]","count":3' \
	"they are counted as skipped"

out=$(cat "$MNT/Movies/Abs Out/Abs Out.mkv" 2>&1) && fail "an absolute symlink out of the volume was served: $out"
expect_match "$out" "Permission denied" "an absolute symlink out of the volume: refused"
out=$(cat "$MNT/Movies/Rel Out/Rel Out.mkv" 2>&1) && fail "a relative symlink out of the volume was served: $out"
expect_match "$out" "Permission denied" "a relative symlink out of the volume: refused"
expect_match "$(cat "$T/fused.log")" 'refusing source "media3/rel-out.mkv" .*leads out of the files volume' \
	"the refusal is logged"
grep -rq secret "$MNT" 2>/dev/null && fail "the secret was readable somewhere in the mount"
ok "nothing outside the volume is readable"
expect_eq "$(cat "$MNT/Movies/In Link/In Link.mkv")" "inside" "a symlink within the volume is followed"

out=$(timeout 5 cat "$MNT/Movies/Fifo/Fifo.mkv" 2>&1)
rc=$?
[ $rc -eq 124 ] && fail "opening a FIFO source hung"
expect_match "$out" "Input/output error" "a FIFO source: EIO, no hang"
out=$(cat "$MNT/Movies/A Dir/A Dir" 2>&1) && fail "a directory source was served"
expect_match "$out" "Input/output error" "a directory source: EIO"

# A deleted source: ENOENT for that file, everything else works.
victim="$MNT/Movies/Movie Ünïcode 2 (1992)/Movie Ünïcode 2.mkv"
cat "$victim" >/dev/null || fail "reading the file before deleting its source"
rm "$T/files/media1/Movies/movie 2/Movie.2.mkv"
out=$(cat "$victim" 2>&1) && fail "a deleted source was still served"
expect_match "$out" "No such file or directory" "a deleted source: ENOENT"
expect_match "$(cat "$T/fused.log")" 'source "media1/Movies/movie 2/Movie.2.mkv" of "/Movies/Movie Ünïcode 2 \(1992\)/Movie Ünïcode 2.mkv" is gone' \
	"logged with both paths"
expect_eq "$(md5sum <"$MNT/Movies/Movie Ünïcode 3 (1993)/Movie Ünïcode 3.mkv")" \
	"$(md5sum <"$T/files/media1/Movies/movie 3/Movie.3.mkv")" "other files still read"
expect_eq "$(find "$MNT" -type f | wc -l)" "$(dump_files | wc -l)" "the tree is still complete"

# The whole volume gone: every open fails once the volume's check notices (it
# runs at most every SOURCE_RECHECK_MS, 1 s: lib/source.h); the mount stays up.
mv "$T/files" "$T/files.away"
sleep 1.1
out=$(cat "$MNT/Other/leftover.bin" 2>&1) && fail "served with the volume gone"
expect_match "$out" "No such file or directory|Input/output error" "the volume gone: an error, not a crash"
mv "$T/files.away" "$T/files"
expect_eq "$(md5sum <"$MNT/Other/leftover.bin")" "$(md5sum <"$T/files/media2/leftover.bin")" \
	"and reads work again once it is back"
kill -0 "$FUSED_PID" || fail "fused died"
stop_fused
check_sanitizer
