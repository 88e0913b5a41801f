#!/usr/bin/env bash
# apid's life: started before any snapshot (health 503, empty stats, 503 for
# paths) and serving the first one as soon as kvwatch publishes it (inotify, no
# signal); a corrupt snapshot refused while the previous generation stays
# served; the socket passed in LISTEN_FDS under the name "api"; privileges
# dropped to the configured uid; the FUSE mount seen in stats while fused
# serves it; a bad configuration exits 1, a port in use 75.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apid_lib.sh"

start_redis
apid_load_library
apid_conf

# ---- no snapshot yet ----
apid_start
req GET /health
expect_status 503 "health without a snapshot"
expect_match "$(jb .error)" "no snapshot" "health: the reason"
req GET /api/fuse/stats
expect_eq "$ST" 200 "stats without a snapshot"
expect_eq "$(jb .totalFiles)" 0 "stats: no files yet"
req POST /api/fuse/readdir '{"path": "/"}'
expect_status 503 "readdir without a snapshot"

# ---- the first snapshot, noticed without a signal ----
apid_publish
healthy() {
	req GET /health
	[ "$ST" = 200 ]
}
wait_for 15 healthy || fail "the first snapshot was not picked up: $(cat "$T/body")"
ok "the first snapshot is served once published"
req POST /api/fuse/readdir '{"path": "/"}'
expect_eq "$(jb -c .entries)" '["Movies","Other","TV"]' "readdir / after the first snapshot"

# ---- a corrupt snapshot: refused, generation 1 stays ----
head -c 4096 /dev/urandom >"$RUN/.bad"
mv "$RUN/.bad" "$RUN/vfs.snapshot"
kill -HUP "$APID_PID"
wait_for 10 grep -q "keeping the current generation" "$T/apid.log" ||
	fail "no refusal logged: $(tail -n 5 "$T/apid.log")"
ok "the corrupt snapshot is refused with one log line"
req GET /api/fuse/stats
expect_eq "$(jb .generation)" 1 "generation 1 still served"
expect_eq "$(jb .totalFiles)" 3 "its files still served"

# ---- a snapshot written while the store was unreachable: health says so ----
echo '{"hashId": "x1", "filePath": "m/x.mkv", "title": "X", "year": "2001"}' |
	"$MF_BUILD_DIR/tests/mf-mksnapshot" -c "$T/apid.conf" --runtime-dir "$RUN" --generation 9 \
		--disconnected "connection refused" >/dev/null 2>&1 || fail "mf-mksnapshot failed"
kill -HUP "$APID_PID"
unhealthy() {
	req GET /health
	[ "$ST" = 503 ]
}
wait_for 10 unhealthy || fail "health stays $ST with the store disconnected"
expect_status 503 "health while the store is disconnected"
expect_match "$(jb .error)" "disconnected: connection refused" "health: the store's error"
expect_eq "$(jb .kvConnection)" disconnected "health: kvConnection"
req GET /api/fuse/stats
expect_eq "$(jb .kvConnection)" disconnected "stats: kvConnection disconnected"
expect_eq "$(jb .kvError)" "connection refused" "stats: kvError"
expect_eq "$(jb .generation)" 9 "stats: the disconnected generation is served"
req POST /api/fuse/exists '{"path": "/Movies/X (2001)/X.mkv"}'
expect_eq "$(jb .exists)" true "its files are served all the same"
req GET /metrics
grep -qx 'mf_kv_connected 0' "$T/body" || fail "metrics: mf_kv_connected is not 0"
ok "metrics: mf_kv_connected 0"
kill -TERM "$APID_PID"
wait "$APID_PID"
expect_eq "$?" 0 "apid exits 0 on SIGTERM"

# ---- a passed socket, privileges dropped ----
apid_publish
chmod 755 "$T" "$RUN"
chmod 644 "$RUN/vfs.snapshot"
apid_conf "" ""
sed -i 's/^uid = 0;/uid = 65534;/; s/^gid = 0;/gid = 65534;/' "$T/apid.conf"
if command -v systemd-socket-activate >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
	start_bg apid-passed systemd-socket-activate -l "127.0.0.1:$API_PORT" --fdname=api \
		"$APID" -c "$T/apid.conf" -v
	APID_PID=$LAST_PID
	wait_for 10 curl -sf -o /dev/null "$URL/api/fuse/stats" ||
		fail "apid on a passed socket did not answer: $(cat "$T/apid-passed.log")"
	# (the line follows the server's start: a first request may be answered before it)
	wait_for 10 grep -q "(socket passed by the service manager)" "$T/apid-passed.log" ||
		fail "apid did not take the passed socket: $(cat "$T/apid-passed.log")"
	ok "the socket passed in LISTEN_FDS as \"api\" is served"
	uid=$(awk '/^Uid:/ {print $2 "," $3 "," $4}' "/proc/$APID_PID/status")
	expect_eq "$uid" "65534,65534,65534" "privileges dropped to the configured uid"
	req GET /api/fuse/stats
	expect_eq "$(jb .totalFiles)" 3 "serving as the unprivileged user"
	kill -TERM "$APID_PID"
	wait "$APID_PID"
	expect_eq "$?" 0 "apid on a passed socket exits 0"
else
	echo "(skipping the passed socket: needs root and systemd-socket-activate)"
fi

# ---- the FUSE mount in stats ----
sed -i 's/^uid = 65534;/uid = 0;/; s/^gid = 65534;/gid = 0;/' "$T/apid.conf"
if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] && [ -x "$BIN/meta-fuse-fused" ]; then
	mkdir -p "$T/mnt"
	register_mount "$T/mnt"
	apid_start
	start_bg fused "$BIN/meta-fuse-fused" -c "$T/apid.conf"
	FUSED_PID=$LAST_PID
	wait_for 15 grep -qs " $T/mnt fuse" /proc/mounts || fail "fused did not mount"
	mounted() {
		req GET /api/fuse/stats
		[ "$(jb .fuseMount)" = mounted ]
	}
	wait_for 5 mounted || fail "stats: fuseMount stays $(jb .fuseMount) while mounted"
	ok "stats: fuseMount is mounted while fused serves"
	kill -TERM "$FUSED_PID"
	wait "$FUSED_PID"
	unmounted() {
		req GET /api/fuse/stats
		[ "$(jb .fuseMount)" = unmounted ]
	}
	wait_for 5 unmounted || fail "stats: fuseMount stays mounted after fused stopped"
	ok "stats: fuseMount is unmounted once fused stopped"
	kill -TERM "$APID_PID"
	wait "$APID_PID"
else
	echo "(skipping the FUSE mount: needs root, /dev/fuse and meta-fuse-fused)"
fi

# ---- start-up failures ----
echo 'api = { listen = "127.0.0.1:70000"; };' >"$T/bad.conf"
rc=0
"$APID" -c "$T/bad.conf" >"$T/bad.log" 2>&1 || rc=$?
expect_eq "$rc" 1 "a bad configuration exits 1"
rc=0
"$APID" -c "$T/nope.conf" >"$T/bad.log" 2>&1 || rc=$?
expect_eq "$rc" 1 "a missing configuration file exits 1"
apid_conf
apid_start
rc=0
timeout 10 "$APID" -c "$T/apid.conf" >"$T/second.log" 2>&1 || rc=$?
expect_eq "$rc" 75 "a port in use exits 75"
grep -q "cannot listen on 127.0.0.1:$API_PORT" "$T/second.log" ||
	fail "no clear line for a port in use: $(cat "$T/second.log")"
ok "a port in use: one clear line"
