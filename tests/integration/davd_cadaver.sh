#!/bin/bash
# davd_cadaver: the cadaver command-line client lists a collection, finds no
# locks, is refused a lock (class 1) and still gets a file with the source's
# bytes, and is refused a mkdir and a put.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"
need cadaver

serve_media
export HOME="$T/home"
mkdir -p "$HOME"
printf 'machine 127.0.0.1\nlogin %s\npassword %s\n' "$DAV_USER" "$DAV_PASS" >"$HOME/.netrc"
chmod 600 "$HOME/.netrc"
cd "$T" || fail "cd"
printf 'cd "Movies/Inception (2010)"\nls\ndiscover Inception.mkv\nlock Inception.mkv\nshowlocks\nget Inception.mkv got.mkv\nmkdir newdir\nput got.mkv again.mkv\nquit\n' |
	timeout 60 cadaver "$URL/" >"$T/cadaver.out" 2>&1
cat "$T/cadaver.out" >>"$T/cadaver.log"
expect_match "$(cat "$T/cadaver.out")" 'Inception\.mkv +5000' "cadaver ls: the file and its size"
expect_match "$(cat "$T/cadaver.out")" 'Inception\.srt +300' "cadaver ls: the subtitle"
expect_match "$(cat "$T/cadaver.out")" "Discovering locks on \`Inception.mkv': no locks found" \
	"cadaver discover: lockdiscovery is empty"
expect_match "$(cat "$T/cadaver.out")" "Locking \`Inception.mkv': failed:" "cadaver lock is refused (class 1)"
expect_match "$(cat "$T/cadaver.out")" "^405 Method Not Allowed" "cadaver lock: 405"
expect_match "$(cat "$T/cadaver.out")" "^No owned locks" "cadaver holds no lock"
expect_eq "$(md5sum <"$T/got.mkv")" "$(md5sum <"$T/files/m/inception.mkv")" "cadaver get: the source's bytes"
expect_match "$(cat "$T/cadaver.out")" "Creating \`newdir': failed" "cadaver mkdir is refused"
expect_match "$(cat "$T/cadaver.out")" 'Uploading got.mkv .* failed' "cadaver put is refused"
stop_davd
check_sanitizer
