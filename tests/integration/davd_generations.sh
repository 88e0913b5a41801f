#!/bin/bash
# davd_generations: a new snapshot is served on SIGHUP and, run alone, as soon
# as it is renamed into the runtime directory (inotify); a download in flight
# finishes with the bytes of the file it opened although the new generation no
# longer has the file and its source was replaced; an invalid snapshot is
# refused while the current one stays; the socket is taken from LISTEN_FDS
# when passed (systemd-socket-activate); davd.metrics counts the requests.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"

davd_config
make_media
publish
start_davd --check-interval 0
F="$URL/Movies/Big%20One%20(2020)/Big%20One.mkv"
cp "$T/files/m/big.mkv" "$T/big.orig"

# A slow download (4 MiB at 1 MiB/s) across a generation switch.
dav --limit-rate 1M -o "$T/slow.bin" "$F" &
SLOW=$!
sleep 1
grep -v '"big"' "$T/records.jsonl" >"$T/r2" && mv "$T/r2" "$T/records.jsonl"
head -c 100 /dev/urandom >"$T/files/m/big.mkv.new" && mv "$T/files/m/big.mkv.new" "$T/files/m/big.mkv"
publish --generation 2
wait_for 10 grep -q "serving generation 2 (inotify)" "$T/davd.log" || fail "generation 2 not picked up by inotify"
ok "a new snapshot is served at once (inotify)"
expect_eq "$(status "$F")" 404 "the new generation no longer has the file"
wait "$SLOW" || fail "the download in flight failed"
expect_eq "$(md5sum <"$T/slow.bin")" "$(md5sum <"$T/big.orig")" "the download in flight finished with the file it opened"

# SIGHUP: a snapshot hard-linked into place makes no event davd watches for.
make_media
mkdir -p "$T/other"
publish --generation 3 --runtime-dir "$T/other"
rm "$T/run/vfs.snapshot" && ln "$T/other/vfs.snapshot" "$T/run/vfs.snapshot"
sleep 0.5
grep -q "serving generation 3" "$T/davd.log" && fail "generation 3 served before SIGHUP (the test needs no event)"
kill -HUP "$DAVD_PID"
wait_for 10 grep -q "serving generation 3 (SIGHUP)" "$T/davd.log" || fail "generation 3 not served after SIGHUP"
ok "SIGHUP loads the new snapshot"
expect_eq "$(status "$F")" 200 "the file is back in generation 3"

# An invalid snapshot is refused; generation 3 stays.
printf 'MFSNAP\r\ngarbage' >"$T/run/vfs.snapshot.bad" && mv "$T/run/vfs.snapshot.bad" "$T/run/vfs.snapshot"
kill -HUP "$DAVD_PID"
wait_for 10 grep -q "keeping the current generation" "$T/davd.log" || fail "the invalid snapshot was not refused"
ok "an invalid snapshot is refused with a warning"
expect_eq "$(dav "$F" | md5sum)" "$(md5sum <"$T/files/m/big.mkv")" "generation 3 is still served"

# The metrics apid exports, read from the shared file.
davd_metrics >"$T/metrics.out" || fail "davd.metrics does not parse"
expect_match "$(cat "$T/metrics.out")" '^davd GET 0 [1-9][0-9]* 0 [1-9][0-9]* 0$' "davd.metrics counts GETs by status class (2xx and 4xx)"
stop_davd
check_sanitizer

# The socket passed by a service manager (LISTEN_FDS, named "webdav").
if command -v systemd-socket-activate >/dev/null; then
	PASSED=$(free_port)
	start_bg activate systemd-socket-activate -l "127.0.0.1:$PASSED" --fdname=webdav \
		"$BIN/meta-fuse-davd" -c "$T/davd.conf" -v
	sleep 0.5
	expect_eq "$(status "http://127.0.0.1:$PASSED/webdav/")" 200 "served on the passed socket"
	wait_for 10 grep -q "(socket passed by the service manager)" "$T/activate.log" ||
		fail "davd did not say the service manager passed its socket: $(cat "$T/activate.log")"
	ok "davd took the passed socket, not webdav.listen, and says a service manager passed it"
	grep -q "passed by the supervisor" "$T/activate.log" && fail "davd credited the supervisor"
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DAVD_PORT/webdav/")" 000 \
		"nothing listens on webdav.listen then"
	kill -TERM "$LAST_PID"
	wait "$LAST_PID"
	expect_eq "$?" 0 "davd on a passed socket exits 0"
	# The supervisor marks its workers' environment (META_FUSE_SUPERVISOR=1).
	start_bg supervised systemd-socket-activate -l "127.0.0.1:$PASSED" --fdname=webdav \
		-E META_FUSE_SUPERVISOR=1 "$BIN/meta-fuse-davd" -c "$T/davd.conf" -v
	sleep 0.5
	expect_eq "$(status "http://127.0.0.1:$PASSED/webdav/")" 200 "served on the socket passed again"
	wait_for 10 grep -q "(socket passed by the supervisor)" "$T/supervised.log" ||
		fail "davd did not say the supervisor passed its socket: $(cat "$T/supervised.log")"
	ok "with META_FUSE_SUPERVISOR=1 davd says the supervisor passed it"
	kill -TERM "$LAST_PID"
	wait "$LAST_PID"
else
	echo "note: systemd-socket-activate missing, LISTEN_FDS not checked here (unit test_http checks it)"
fi
