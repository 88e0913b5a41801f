#!/usr/bin/env bash
# davd_sizes: sizes from the KV store that must not be trusted, through a real
# redis-server, `meta-fuse-kvwatch --once`, meta-fuse-davd and meta-fuse-apid.
# Sources of 1,234 / 2,345 / 3,456 / 4,567 bytes whose size in Redis is missing,
# "12kB", 2^64-1 (kvwatch flags them SNAP_NODE_F_SIZE_UNKNOWN) or simply wrong
# (10, unflagged):
#   - GET and HEAD send exactly the source's bytes with a matching
#     Content-Length; a Range at the end (bytes=-100, bytes=N-1-) works and one
#     past it is 416 with the source's size;
#   - the ETag carries the size served, the same on GET and HEAD, and answers
#     If-None-Match with 304;
#   - PROPFIND getcontentlength and apid's getattr `size` of a flagged node are
#     the source's (a stat), as are POST /api/fuse/read's size and bytes; of
#     the unflagged wrong one, the snapshot's 10 (the documented choice: no
#     stat per listed entry).
# kvwatch runs with kv.measure_sizes = false: this is what the readers do with
# claims kvwatch did not correct (a source it could not reach);
# kvwatch_sizes.sh covers the sizes kvwatch measures.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apid_lib.sh"
need python3
[ -x "$BIN/meta-fuse-davd" ] || skip "meta-fuse-davd is not built"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}"

start_redis
mkdir -p "$VOL/media"
src() { # src NAME BYTES
	head -c "$2" /dev/urandom >"$VOL/media/$1"
	touch -d "@1600000000" "$VOL/media/$1"
}
src nosize.mkv 1234
src badsize.mkv 2345
src hugesize.mkv 3456
src wrongsize.mkv 4567
rcli mset meta-sort:file:nosize:filePath media/nosize.mkv \
	meta-sort:file:nosize:mtime 1700000000 \
	meta-sort:file:badsize:filePath media/badsize.mkv meta-sort:file:badsize:size 12kB \
	meta-sort:file:hugesize:filePath media/hugesize.mkv \
	meta-sort:file:hugesize:size 18446744073709551615 \
	meta-sort:file:wrongsize:filePath media/wrongsize.mkv \
	meta-sort:file:wrongsize:size 10 >/dev/null

DAVD_PORT=$(free_port)
APID_KV="redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; measure_sizes = false;"
apid_conf "" "webdav = { listen = \"127.0.0.1:$DAVD_PORT\"; username = \"u\"; password = \"p\"; };"
apid_publish
apid_start
start_bg davd "$BIN/meta-fuse-davd" -c "$T/apid.conf" -v
DAVD_PID=$LAST_PID
wait_for 15 grep -q 'serving "' "$T/davd.log" || fail "davd did not start: $(cat "$T/davd.log")"
DAV="http://127.0.0.1:$DAVD_PORT/webdav"
dav() { curl -s -u u:p "$@"; }
hdr() { tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | head -n1; }

# getcontentlength and getetag of one PROPFIND Depth 0 response.
propfind() {
	dav -X PROPFIND -H "Depth: 0" "$DAV/Other/$1" >"$T/pf.xml"
	python3 - "$T/pf.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
print(r.find(".//{DAV:}getcontentlength").text, r.find(".//{DAV:}getetag").text)
EOF
}

for f in nosize:1234:1234 badsize:2345:2345 hugesize:3456:3456 wrongsize:4567:10; do
	IFS=: read -r name bytes listed <<<"$f"
	file="$VOL/media/$name.mkv"
	url="$DAV/Other/$name.mkv"

	# GET: every byte of the source, Content-Length equal to it.
	dav -D "$T/get.h" -o "$T/got" "$url"
	cmp -s "$T/got" "$file" || fail "$name: GET body differs from the source ($(wc -c <"$T/got") bytes)"
	ok "$name: GET returns exactly the source's $bytes bytes"
	expect_eq "$(hdr "$T/get.h" Content-Length)" "$bytes" "$name: GET Content-Length"
	etag=$(hdr "$T/get.h" ETag)

	# HEAD: the same length and tag, no body.
	dav -I -o "$T/head.h" "$url"
	expect_eq "$(hdr "$T/head.h" Content-Length)" "$bytes" "$name: HEAD Content-Length"
	expect_eq "$(hdr "$T/head.h" ETag)" "$etag" "$name: HEAD ETag equals GET's"
	hex=$(printf '%x' "$bytes")
	expect_match "$etag" "^\"[0-9a-f]+-$hex-[0-9a-f]+\"$" "$name: the ETag carries the size served"
	expect_eq "$(dav -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$url")" 304 \
		"$name: If-None-Match with that ETag: 304"

	# Ranges at the end of the source.
	dav -D "$T/r.h" -o "$T/r.body" -H "Range: bytes=-100" "$url"
	expect_match "$(head -n1 "$T/r.h")" "^HTTP/1.1 206" "$name: bytes=-100: 206"
	expect_eq "$(hdr "$T/r.h" Content-Range)" "bytes $((bytes - 100))-$((bytes - 1))/$bytes" \
		"$name: bytes=-100: Content-Range"
	expect_eq "$(hdr "$T/r.h" Content-Length)" 100 "$name: bytes=-100: Content-Length"
	cmp -s "$T/r.body" <(tail -c 100 "$file") || fail "$name: bytes=-100: not the last 100 bytes"
	ok "$name: bytes=-100: the source's last 100 bytes"
	expect_eq "$(dav -H "Range: bytes=$((bytes - 1))-" "$url" | od -An -tx1 | tr -d ' \n')" \
		"$(tail -c 1 "$file" | od -An -tx1 | tr -d ' \n')" "$name: bytes=$((bytes - 1))-: the last byte"
	dav -D "$T/r.h" -o /dev/null -H "Range: bytes=$bytes-" "$url"
	expect_match "$(head -n1 "$T/r.h")" "^HTTP/1.1 416" "$name: bytes=$bytes-: 416"
	expect_eq "$(hdr "$T/r.h" Content-Range)" "bytes */$bytes" "$name: 416 names the source's size"

	# PROPFIND and apid's getattr.
	read -r len ptag <<<"$(propfind "$name.mkv")"
	expect_eq "$len" "$listed" "$name: PROPFIND getcontentlength"
	[ "$listed" = "$bytes" ] && expect_eq "$ptag" "$etag" "$name: PROPFIND getetag equals GET's ETag"
	req POST /api/fuse/getattr "{\"path\": \"/Other/$name.mkv\"}"
	expect_status 200 "$name: getattr"
	expect_eq "$(jb .size)" "$listed" "$name: apid getattr size"
	req POST /api/fuse/read "{\"path\": \"/Other/$name.mkv\"}"
	expect_status 200 "$name: read (where)"
	expect_eq "$(jb .size)" "$listed" "$name: apid read size"
	req POST /api/fuse/read "{\"path\": \"/Other/$name.mkv\", \"offset\": 0, \"length\": 4}"
	expect_status 200 "$name: read 4 bytes"
	expect_eq "$(jb .content | base64 -d | od -An -tx1 | tr -d ' \n')" \
		"$(head -c 4 "$file" | od -An -tx1 | tr -d ' \n')" "$name: apid read returns the source's first bytes"
done

# The source grows: a flagged node follows it on the next request.
head -c 1000 /dev/urandom >>"$VOL/media/nosize.mkv"
dav -I -o "$T/head.h" "$DAV/Other/nosize.mkv"
expect_eq "$(hdr "$T/head.h" Content-Length)" 2234 "nosize: HEAD follows the source (1,234 + 1,000 bytes)"
read -r len _ <<<"$(propfind nosize.mkv)"
expect_eq "$len" 2234 "nosize: PROPFIND follows the source"

kill -TERM "$DAVD_PID"
rc=0
wait "$DAVD_PID" || rc=$?
expect_eq "$rc" 0 "davd exits 0 on SIGTERM"
kill -TERM "$APID_PID"
rc=0
wait "$APID_PID" || rc=$?
expect_eq "$rc" 0 "apid exits 0 on SIGTERM"
if grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/davd.log" "$T/apid.log"; then
	fail "sanitizer report in the logs above"
fi
ok "no sanitizer report"
