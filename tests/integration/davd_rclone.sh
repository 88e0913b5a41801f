#!/bin/bash
# davd_rclone: rclone's webdav backend agrees with the sources: lsjson lists the
# tree with the right sizes and times, copy fetches every file, and check finds
# no difference between the share and a tree of the source files laid out the
# same way.  None of it asks for a lock (davd is class 1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"
need rclone jq

serve_media
export RCLONE_CONFIG="$T/rclone.conf"
: >"$RCLONE_CONFIG"
rclone config create dav webdav url="$URL" vendor=other user="$DAV_USER" \
	pass="$(rclone obscure "$DAV_PASS")" >/dev/null || fail "rclone config"

# What the share should hold: every file of the snapshot, at its virtual path.
mkdir -p "$T/expect"
"$BIN/meta-fuse" dump --runtime-dir "$T/run" | jq -r 'select(.type == "file") | [.path, .source] | @tsv' |
	while IFS=$'\t' read -r path src; do
		mkdir -p "$T/expect$(dirname "$path")"
		cp -p "$T/files/$src" "$T/expect$path"
	done

rclone lsjson -R --files-only dav: >"$T/ls.json" 2>"$T/rclone.err" || fail "rclone lsjson: $(cat "$T/rclone.err")"
expect_eq "$(jq -r '.[] | "\(.Path)\t\(.Size)"' "$T/ls.json" | sort)" \
	"$(cd "$T/expect" && find . -type f -printf '%P\t%s\n' | sort)" "rclone lsjson: every file, its size"
expect_eq "$(jq -r '.[] | select(.Path | endswith("Inception.mkv")) | .ModTime' "$T/ls.json")" \
	"$(date -u -d @"$(stat -c %Y "$T/files/m/inception.mkv")" '+%Y-%m-%dT%H:%M:%SZ')" "rclone lsjson: modification time"
expect_eq "$(jq -r '.[] | select(.Path | endswith("Big One.mkv")) | .MimeType' "$T/ls.json")" "video/x-matroska" \
	"rclone lsjson: MIME type"
rclone copy dav: "$T/copy" 2>"$T/rclone.err" || fail "rclone copy: $(cat "$T/rclone.err")"
expect_eq "$(cd "$T/copy" && find . -type f -exec md5sum {} + | sort -k2)" \
	"$(cd "$T/expect" && find . -type f -exec md5sum {} + | sort -k2)" "rclone copy: the source bytes"
rclone check --download dav: "$T/expect" >"$T/check.log" 2>&1 || fail "rclone check: $(tail -5 "$T/check.log")"
ok "rclone check --download: no difference"
rclone cat "dav:Movies/Big One (2020)/Big One.mkv" --offset 1000000 --count 4096 2>/dev/null | md5sum >"$T/part"
expect_eq "$(cat "$T/part")" \
	"$(dd if="$T/files/m/big.mkv" iflag=skip_bytes,count_bytes skip=1000000 count=4096 2>/dev/null | md5sum)" \
	"rclone cat with an offset (a Range request)"
# rclone's webdav backend never locks: a class 1 share is all it needs (docs/davd.md#locks).
expect_eq "$(davd_requests refused)" 0 "rclone lsjson, copy, check and cat sent no LOCK (no refused request)"
expect_match "$(davd_requests PROPFIND)" '^[1-9][0-9]*$' "the counters saw rclone's PROPFINDs"
if rclone mkdir "dav:Movies/new" 2>/dev/null && rclone lsf dav:Movies | grep_quiet '^new/$'; then
	fail "rclone mkdir succeeded on a read-only share"
fi
ok "rclone mkdir is refused"
expect_match "$(davd_requests refused)" '^[1-9][0-9]*$' "the refused mkdir is counted as refused"
stop_davd
check_sanitizer
