#!/bin/bash
# davd_error_txt: as in fused, the share's root shows a virtual ERROR.txt while
# there is no snapshot at all, or while the snapshot says the key-value store
# is unreachable: listed by PROPFIND and in the HTML listing, readable (whole
# and by range); gone again with a healthy snapshot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"

davd_config
make_media
start_davd # no snapshot yet

root_names() {
	dav -X PROPFIND -H 'Depth: 1' "$URL/" -o "$T/root.xml"
	well_formed "$T/root.xml" || fail "the root reply is not well-formed"
	multistatus "$T/root.xml" | cut -f1 | sort | tr '\n' '|'
}
expect_eq "$(root_names)" "/webdav/|/webdav/ERROR.txt|" "no snapshot: the root holds ERROR.txt alone"
expect_match "$(dav "$URL/ERROR.txt")" 'vfs.snapshot' "ERROR.txt says the snapshot is missing"

publish --disconnected "connection refused by 10.0.0.9:6379"
wait_for 10 grep -q "serving generation 1" "$T/davd.log" || fail "generation 1 not served"
expect_eq "$(root_names)" "/webdav/|/webdav/ERROR.txt|/webdav/Movies/|" \
	"the store unreachable: ERROR.txt beside the last known tree"
dav "$URL/ERROR.txt" -o "$T/error.txt"
text=$(cat "$T/error.txt")
expect_match "$text" 'connection refused by 10.0.0.9:6379' "ERROR.txt names the error"
len=$(stat -c %s "$T/error.txt")
h=$(dav -I "$URL/ERROR.txt" | tr -d '\r')
expect_match "$h" "^Content-Length: $len$" "its size is exact"
expect_match "$h" '^Content-Type: text/plain; charset=utf-8' "it is text"
expect_eq "$(dav -r 0-9 "$URL/ERROR.txt" | md5sum)" "$(head -c 10 "$T/error.txt" | md5sum)" "a range of ERROR.txt"
expect_match "$(dav "$URL/")" 'href="ERROR.txt"' "the HTML listing links ERROR.txt"
p=$(multistatus "$T/root.xml" | grep 'ERROR.txt')
expect_match "$p" "getcontentlength=$len" "PROPFIND gives its size"
expect_match "$p" 'getcontenttype=text/plain' "... and its type"
expect_eq "$(status -X PROPFIND -H 'Depth: 0' "$URL/ERROR.txt")" 207 "PROPFIND Depth 0 on ERROR.txt"
expect_eq "$(status "$URL/ERROR.txt/")" 404 "ERROR.txt/ is not a collection"

publish --generation 2
wait_for 10 grep -q "serving generation 2" "$T/davd.log" || fail "generation 2 not served"
expect_eq "$(root_names)" "/webdav/|/webdav/Movies/|" "healthy again: ERROR.txt is gone"
expect_eq "$(status "$URL/ERROR.txt")" 404 "... and not found"
stop_davd
check_sanitizer
