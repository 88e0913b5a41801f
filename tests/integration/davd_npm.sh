#!/bin/bash
# davd_npm: the npm webdav client library (what JavaScript apps use) lists the
# share, stats a file, is refused a lock, downloads the file whole and as a
# range with the source's bytes, and is refused a write.  The library is
# installed from the npm registry into the test's temp dir with `npm ci`
# (tests/integration/npm has package.json and its lock); without the registry
# the test is skipped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"
need node npm

cp "$MF_SOURCE_DIR/tests/integration/npm/package.json" "$MF_SOURCE_DIR/tests/integration/npm/package-lock.json" \
	"$MF_SOURCE_DIR/tests/integration/npm/client.mjs" "$T/"
(cd "$T" && timeout 180 npm ci --no-audit --no-fund >"$T/npm.log" 2>&1) ||
	skip "npm ci could not install the webdav library: $(tail -n 2 "$T/npm.log")"

serve_media
mkdir -p "$T/out"
(cd "$T" && timeout 60 node client.mjs "$URL" "$DAV_USER" "$DAV_PASS" "$T/out") >"$T/client.out" 2>"$T/client.log" ||
	fail "the client failed: $(tail -n 5 "$T/client.log")"
out=$(cat "$T/client.out")
expect_match "$out" '^root Movies:directory$' "listing the root"
expect_match "$out" '^dir Le Fabuleux Destin d’Amélie Poulain \(2001\)$' "a UTF-8 name"
expect_match "$out" '^dir Tom & Jerry 100% #1_ \+ more \(1999\)$' "a name with & % # +"
expect_match "$out" "^file Big One.mkv $(stat -c %s "$T/files/m/big.mkv") video/x-matroska \"?[0-9a-f]+-[0-9a-f]+-[0-9a-f]+\"?$" \
	"a file's size, type and ETag"
expect_match "$out" "^stat $(stat -c %s "$T/files/m/big.mkv") file " "stat"
expect_match "$out" '^lock refused 405$' "a lock is refused (405: class 1), and the client goes on"
expect_eq "$(md5sum <"$T/out/whole.bin")" "$(md5sum <"$T/files/m/big.mkv")" "download: the source's bytes"
expect_match "$out" "^part 1024$" "a range download: 1024 bytes"
expect_eq "$(md5sum <"$T/out/part.bin")" \
	"$(dd if="$T/files/m/big.mkv" iflag=skip_bytes,count_bytes skip=100 count=1024 2>/dev/null | md5sum)" \
	"a range download"
expect_match "$out" '^put refused 405$' "a write is refused (405)"
expect_match "$out" '^exists false$' "a missing path does not exist"
stop_davd
check_sanitizer
