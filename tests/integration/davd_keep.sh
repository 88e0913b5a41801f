#!/bin/bash
# davd_keep: GET through the source descriptors davd keeps for a moment
# (lib/source.h: SOURCE_RECHECK_MS, 1 s).  Small bodies (read into the reply)
# and large ones (sendfile), whole and by range, have the source's bytes; a
# file grown in place is served whole at once (a new fstat per request); a
# file replaced, a file deleted, a files volume replaced or gone are noticed
# within the bound, and a volume that comes back is served at once; a kept
# descriptor of a deleted file is closed by the periodic check.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"

# Within this long of a change on disk, davd serves it: the 1 s bound, and room
# for a loaded machine (ASan builds, other tests on two CPUs).
BOUND_S=4

davd_config
make_media
publish
start_davd --check-interval 500
SMALL="$URL/Movies/Inception%20(2010)/Inception.mkv"
BIG="$URL/Movies/Big%20One%20(2020)/Big%20One.mkv"
SRC_SMALL="$T/files/m/inception.mkv"
SRC_BIG="$T/files/m/big.mkv"

# body_is URL FILE WHAT [CURL ARGS...]: the body equals FILE's bytes.
body_is() {
	local url=$1 file=$2 what=$3
	shift 3
	dav "$@" -o "$T/got" "$url" || fail "$what: curl failed"
	cmp -s "$T/got" "$file" || fail "$what: the body differs from the source"
	ok "$what"
}

# --- bytes, whole and by range, small and large, twice (the second from the kept descriptor)
for round in 1 2; do
	body_is "$SMALL" "$SRC_SMALL" "small file whole (round $round)"
	dd if="$SRC_SMALL" of="$T/want" bs=1 skip=100 count=900 status=none
	body_is "$SMALL" "$T/want" "small file, bytes=100-999 (round $round)" -r 100-999
	body_is "$BIG" "$SRC_BIG" "large file whole by sendfile (round $round)"
	dd if="$SRC_BIG" of="$T/want" bs=1 skip=$((3 * 1024 * 1024)) count=700 status=none
	body_is "$BIG" "$T/want" "700 bytes inside the large file, read (round $round)" \
		-r $((3 * 1024 * 1024))-$((3 * 1024 * 1024 + 699))
	tail -c 70000 "$SRC_BIG" >"$T/want"
	body_is "$BIG" "$T/want" "its last 70,000 bytes, by sendfile (round $round)" -r -70000
done
expect_match "$(dav -I "$SMALL" | tr -d '\r')" $'Content-Length: 5000' "HEAD: the source's length"
etag=$(dav -I "$SMALL" | tr -d '\r' | sed -n 's/^ETag: //p')
expect_eq "$(status -H "If-None-Match: $etag" "$SMALL")" 304 "If-None-Match: 304"
expect_eq "$(status -r 5000- "$SMALL")" 416 "a range past the end: 416"

# --- grown in place: the same file, a new size, served whole at once
body_is "$SMALL" "$SRC_SMALL" "before growing"
head -c 3000 /dev/urandom >>"$SRC_SMALL"
body_is "$SMALL" "$SRC_SMALL" "grown in place by 3000 bytes: all 8000 at once"
expect_match "$(dav -I "$SMALL" | tr -d '\r')" $'Content-Length: 8000' "HEAD: the grown length"

# seen_within SECONDS WHAT CMD...: CMD succeeds within SECONDS; prints how long it took.
seen_within() {
	local limit=$1 what=$2 t0 t1
	shift 2
	t0=$(date +%s%N)
	while ! "$@"; do
		t1=$(date +%s%N)
		[ $(((t1 - t0) / 1000000)) -lt $((limit * 1000)) ] || fail "$what: not within $limit s"
		sleep 0.05
	done
	t1=$(date +%s%N)
	ok "$what (after $(((t1 - t0) / 1000000)) ms)"
}
same_as() { # same_as URL FILE
	dav -o "$T/poll" "$1" && cmp -s "$T/poll" "$2"
}
status_is() { # status_is URL CODE
	[ "$(status "$1")" = "$2" ]
}

# --- replaced by a rename
body_is "$SMALL" "$SRC_SMALL" "served before the replacement"
head -c 5000 /dev/urandom >"$T/files/m/inception.new"
mv "$T/files/m/inception.new" "$SRC_SMALL"
seen_within $BOUND_S "a file replaced is served new" same_as "$SMALL" "$SRC_SMALL"

# --- deleted: 404, and the kept descriptor is closed by the periodic check
body_is "$SMALL" "$SRC_SMALL" "served before the deletion"
cp "$SRC_SMALL" "$T/inception.keep"
rm "$SRC_SMALL"
seen_within $BOUND_S "a deleted file is 404" status_is "$SMALL" 404
no_deleted_fd() { # davd holds no descriptor of a deleted inception.mkv
	! ls -l "/proc/$DAVD_PID/fd" 2>/dev/null | grep_quiet 'inception.mkv (deleted)'
}
seen_within $BOUND_S "no descriptor of the deleted file is kept" no_deleted_fd
cp "$T/inception.keep" "$SRC_SMALL"
body_is "$SMALL" "$SRC_SMALL" "created again: served at once (a miss is not kept)"

# --- the files volume replaced (a remount's effect), then gone, then back
body_is "$BIG" "$SRC_BIG" "served from the volume"
cp -a "$T/files" "$T/files.new"
head -c 4096 /dev/urandom >"$T/files.new/m/big.mkv"
mv "$T/files" "$T/files.old" && mv "$T/files.new" "$T/files"
seen_within $BOUND_S "a volume replaced is served new" same_as "$BIG" "$SRC_BIG"
mv "$T/files" "$T/files.gone"
seen_within $BOUND_S "a volume gone: 404" status_is "$BIG" 404
mv "$T/files.gone" "$T/files"
body_is "$BIG" "$SRC_BIG" "the volume back: served at once"

kill -0 "$DAVD_PID" || fail "davd died"
stop_davd
check_sanitizer
