#!/usr/bin/env bash
# snapshot_share: kvwatch hands fused, davd and apid one sealed memfd copy of
# each snapshot over runtime_dir/vfs.sock, and they map it instead of each
# copying vfs.snapshot.  With a real redis-server, kvwatch, a fused mount, davd
# and apid on one configuration and a library of 3000 files:
#   - each reader says it serves "in kvwatch's shared copy" and maps the very
#     memfd kvwatch holds (the same inode), with few of its pages resident
#     (the validation's pages given back); all three serve the tree;
#   - a live change: a new generation, shared again, and the old copy's mapping
#     leaves the readers;
#   - vfs.snapshot truncated in place by root: every reader keeps serving (its
#     mapping cannot shrink), and says once that it refuses the file;
#   - kvwatch killed with -9: the readers serve on; kvwatch started again (warm
#     start, a new generation): they switch to its new shared copy;
#   - peers on vfs.sock that are not kvwatch (an unsealed memfd of the file's
#     exact bytes, the file's own descriptor, a server that never answers,
#     garbage without a descriptor, a listener running as nobody): each reader
#     says so in one warning, serves the new file "in a private copy", keeps
#     serving, and nobody crashes;
#   - kvwatch as a user of its own: its copy is taken (it owns vfs.snapshot).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"
need python3 curl setpriv
[ -x "$BIN/meta-fuse-davd" ] || skip "meta-fuse-davd is not built"
[ -x "$BIN/meta-fuse-apid" ] || skip "meta-fuse-apid is not built"
python3 -c 'import os, socket; os.memfd_create; socket.send_fds' 2>/dev/null ||
	skip "python3 has no os.memfd_create or socket.send_fds"

FILES=3000
start_redis
fused_config
DAVD_PORT=$(free_port)
API_PORT=$(free_port)
cat >>"$T/fused.conf" <<EOF
webdav = { listen = "127.0.0.1:$DAVD_PORT"; username = "u"; password = "p"; };
api = { listen = "127.0.0.1:$API_PORT"; };
EOF
kv_load "$FILES"

start_bg kvwatch "$KVW" -c "$T/fused.conf" -v
KV_PID=$LAST_PID
kv_wait 60 ".kv.connected and .files == $FILES" "kvwatch publishes the $FILES files"
wait_for 10 test -S "$RUN/vfs.sock" || fail "kvwatch made no $RUN/vfs.sock"

start_fused
start_bg davd "$BIN/meta-fuse-davd" -c "$T/fused.conf" -v
DAVD_PID=$LAST_PID
start_bg apid "$BIN/meta-fuse-apid" -c "$T/fused.conf" -v
APID_PID=$LAST_PID
wait_for 20 grep -q 'serving generation' "$T/davd.log" || fail "davd did not start"
wait_for 20 grep -q 'serving generation' "$T/apid.log" || fail "apid did not start"
READERS="fused:$FUSED_PID davd:$DAVD_PID apid:$APID_PID"

# copies PID: "inode size_kb rss_kb" per mapping of a shared copy in PID.
copies() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { ino = ($6 ~ /^\/memfd:meta-fuse-vfs/) ? $5 : "" }
		ino != "" && $1 == "Size:" { size = $2 }
		ino != "" && $1 == "Rss:" { print ino, size, $2 }' "/proc/$1/smaps"
}
# kv_copy: the inode of the copy kvwatch serves now, as a reader receives it
# (kvwatch may hold a second memfd: the spare allocated for the next copy).
kv_copy() {
	python3 - "$RUN/vfs.sock" <<'PY' 2>/dev/null
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
s.connect(sys.argv[1])
msg, fds, flags, addr = socket.recv_fds(s, 64, 4)
if fds:
    print(os.fstat(fds[0]).st_ino)
PY
}
# maps_kv_copy PID: PID maps the copy kvwatch serves now, and no other.
maps_kv_copy() {
	local copy
	copy=$(kv_copy)
	[ -n "$copy" ] && [ "$(copies "$1" | awk '{ print $1 }' | sort -u)" = "$copy" ]
}
alive() {
	local r
	for r in $READERS; do
		kill -0 "${r#*:}" 2>/dev/null || fail "${r%%:*} died: $(tail -n 5 "$T/${r%%:*}.log")"
	done
}
# serving WHAT PATH [SECONDS]: every reader alive, and each serves PATH (within SECONDS).
serving() {
	local what=$1 path=$2 max=${3:-30} enc
	alive
	ls "$MNT" | grep_quiet -x Movies || fail "$what: ls of the mount: $(ls "$MNT" 2>&1)"
	timeout "$max" stat "$MNT$path" >/dev/null || fail "$what: stat through fused"
	enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$path")
	expect_eq "$(curl -s --max-time "$max" -o /dev/null -w '%{http_code}' -u u:p -X PROPFIND \
		-H 'Depth: 0' "http://127.0.0.1:$DAVD_PORT/webdav$enc")" 207 "$what: davd PROPFIND"
	expect_eq "$(curl -s --max-time "$max" -X POST -H 'Content-Type: application/json' \
		--data "{\"path\": \"$path\"}" "http://127.0.0.1:$API_PORT/api/fuse/getattr" |
		jq -r .mode)" file "$what: apid getattr"
}
# serves_gen SERVED MEMORY: every reader logged generation SERVED "in MEMORY".
serves_gen() {
	local r
	for r in $READERS; do
		wait_for 20 grep -q "serving generation $1 (.*, in $2" "$T/${r%%:*}.log" ||
			fail "${r%%:*}: no \"serving generation $1 ... in $2\": $(grep 'serving generation' "$T/${r%%:*}.log" | tail -n 2)"
	done
	ok "every reader serves generation $1 in $2"
}
# shared_everywhere WHAT: each reader maps kvwatch's current copy and no other.
shared_everywhere() {
	local r
	for r in $READERS; do
		wait_for 10 maps_kv_copy "${r#*:}" ||
			fail "$1: ${r%%:*} maps $(copies "${r#*:}" | tr '\n' ';'), kvwatch serves inode $(kv_copy)"
	done
	ok "$1: every reader maps kvwatch's copy (inode $(kv_copy)) and no other"
}

MOVIE="/Movies/Movie 0 (1950)/Movie 0.mkv"

# ---- the start: every reader maps kvwatch's copy, few pages resident ----
SERVED=$(kv_hdr .generation)
serves_gen "$SERVED" "kvwatch's shared copy"
shared_everywhere "at the start"
SNAP_KB=$(($(stat -c %s "$RUN/vfs.snapshot") / 1024))
for r in $READERS; do
	read -r _ size rss <<<"$(copies "${r#*:}" | head -n 1)"
	echo "# ${r%%:*}: the copy maps $size kB, $rss kB resident (vfs.snapshot: $SNAP_KB kB)"
	[ "$size" -ge "$SNAP_KB" ] || fail "${r%%:*}: a mapping of $size kB for a $SNAP_KB kB snapshot"
	[ $((rss * 4)) -lt "$size" ] ||
		fail "${r%%:*}: $rss of $size kB resident: the validation's pages were not given back"
done
ok "each reader has under a quarter of the copy resident"
serving "at the start" "$MOVIE"
# fused's unmounter, forked after the first generation, does not inherit it.
UNMOUNTER=$(pgrep -P "$FUSED_PID" | head -n 1)
[ -n "$UNMOUNTER" ] || fail "fused has no unmounter child"
[ -z "$(copies "$UNMOUNTER")" ] ||
	fail "fused's unmounter maps a copy: $(copies "$UNMOUNTER" | tr '\n' ';')"
ok "fused's unmounter maps no copy of the snapshot"
expect_eq "$(curl -s "http://127.0.0.1:$API_PORT/metrics" | awk '$1 == "mf_snapshot_shared" {print $2}')" \
	1 "apid's /metrics: mf_snapshot_shared 1"

# ---- a live change: a new generation, shared, the old copy let go ----
OLD_COPY=$(kv_copy)
kv_load 1 "$FILES"
kv_publish "{\"changes\": [{\"action\": \"add\", \"hashId\": \"$(kv_gen_id "$FILES")\"}]}"
kv_wait 20 ".generation > $SERVED and .files == $((FILES + 1))" "the change is published"
SERVED=$(kv_hdr .generation)
serves_gen "$SERVED" "kvwatch's shared copy"
[ "$(kv_copy)" != "$OLD_COPY" ] || fail "kvwatch serves the same copy after a change"
shared_everywhere "after a live change"
serving "after a live change" "/Other/file$((FILES - 1)).iso"

# ---- vfs.snapshot truncated in place ----
truncate -s 100 "$RUN/vfs.snapshot"
for r in $READERS; do
	kill -HUP "${r#*:}" # (and again: still one line)
	wait_for 10 grep -q "truncated: file is 100 bytes" "$T/${r%%:*}.log" ||
		fail "${r%%:*}: the truncated file was not refused: $(tail -n 3 "$T/${r%%:*}.log")"
	kill -HUP "${r#*:}"
done
sleep 1
for r in $READERS; do
	expect_eq "$(grep -c 'truncated: file is 100 bytes' "$T/${r%%:*}.log")" 1 \
		"${r%%:*}: one line refusing the truncated file"
done
serving "vfs.snapshot truncated" "$MOVIE"
shared_everywhere "vfs.snapshot truncated"

# ---- kvwatch killed, started again ----
kill -KILL "$KV_PID"
wait "$KV_PID" 2>/dev/null
serving "kvwatch killed" "$MOVIE"
start_bg kvwatch-again "$KVW" -c "$T/fused.conf" -v
KV_PID=$LAST_PID
wait_for 30 grep -q "of the previous run, resyncing" "$T/kvwatch-again.log" ||
	fail "kvwatch did not start warm: $(tail -n 5 "$T/kvwatch-again.log")"
kv_wait 30 ".generation > $SERVED" "kvwatch started again publishes a new generation"
serves_gen "$(kv_hdr .generation)" "kvwatch's shared copy"
kv_wait 30 ".kv.connected and (.kv.resyncing | not)" "kvwatch is back in sync"
shared_everywhere "kvwatch started again"
serving "kvwatch started again" "$MOVIE"
kv_stop
[ ! -e "$RUN/vfs.sock" ] || fail "kvwatch stopped left $RUN/vfs.sock"
SERVED=$(kv_hdr .generation)

# ---- peers on vfs.sock that are not kvwatch ----
cat >"$T/peer.py" <<'EOF'
# peer.py KIND SOCKET SNAPSHOT: listen on SOCKET and answer every reader as KIND.
import fcntl, os, socket, struct, sys
kind, path, snap = sys.argv[1:4]
data = open(snap, "rb").read()
snap_fd = os.open(snap, os.O_RDONLY)  # the file is renamed into place after the start
# A copy sealed as kvwatch seals it, made before any setuid.
sealed = os.memfd_create("meta-fuse-vfs", os.MFD_ALLOW_SEALING)
os.write(sealed, data)
fcntl.fcntl(sealed, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW |
            fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
os.chmod(path, 0o666)
if kind == "nobody":
    os.setgid(65534)
    os.setuid(65534)  # the listener's credentials are what a reader sees
s.listen(8)


def answer(c, msg):
    if kind == "unsealed":
        fd = os.memfd_create("meta-fuse-vfs")
        os.write(fd, data)
        socket.send_fds(c, [msg], [fd])
        os.close(fd)
    elif kind == "file":
        socket.send_fds(c, [msg], [snap_fd])
    elif kind == "garbage":
        c.send(b"220 smtp.example.com ESMTP ready\r\n")
    elif kind == "nobody":
        socket.send_fds(c, [msg], [sealed])

held = []
print("listening", flush=True)
while True:
    c, _ = s.accept()
    msg = b"MFSHARE1" + struct.pack("<Q", len(data))
    if kind == "silent":
        held.append(c)
        continue
    try:
        answer(c, msg)
    except OSError:
        pass  # a reader that refused the peer has hung up
    c.close()
EOF
# Records of a small tree for mf-mksnapshot, $MOVIE among them.
for i in 0 1 2; do
	printf '{"hashId": "p%d", "filePath": "media1/Movies/Movie %d (%d)/Movie %d.mkv", "title": "Movie %d", "year": %d, "mediaType": "movie", "size": %d}\n' \
		"$i" "$i" $((1950 + i)) "$i" "$i" $((1950 + i)) $((1000 + i))
done >"$T/records.jsonl"
mkdir -p "$T/stage"

# hostile KIND WARNING: a new file published while KIND listens on vfs.sock.
hostile() {
	local kind=$1 warning=$2 r n peer start
	SERVED=$((SERVED + 1))
	"$MKSNAP" -c "$T/fused.conf" --runtime-dir "$T/stage" --generation "$SERVED" \
		<"$T/records.jsonl" >>"$T/mksnapshot.log" 2>&1 || fail "mf-mksnapshot failed"
	start_bg "peer-$kind" python3 "$T/peer.py" "$kind" "$RUN/vfs.sock" "$T/stage/vfs.snapshot"
	peer=$LAST_PID
	wait_for 10 grep -q listening "$T/peer-$kind.log" || fail "$kind: the peer did not start"
	start=$SECONDS
	mv "$T/stage/vfs.snapshot" "$RUN/vfs.snapshot"
	mv_at=${EPOCHREALTIME/./}
	if [ "$kind" = silent ]; then
		# The readers wait for an answer on their reload thread; requests go on.
		sleep 0.3
		# (a path no request asked for yet: no cache of the kernel's answers it)
		t0=${EPOCHREALTIME/./}
		serving "while the readers wait for the silent peer" "/Movies/Movie 1 (1951)/Movie 1.mkv" 1.5
		echo "# the requests took $(((${EPOCHREALTIME/./} - t0) / 1000)) ms, $(((${EPOCHREALTIME/./} - mv_at) / 1000)) ms after the new file"
		if grep -q "serving generation $SERVED " "$T"/fused.log "$T"/davd.log "$T"/apid.log; then
			echo "# (a reader had stopped waiting before the requests were answered)"
		else
			ok "requests are answered while every reader waits for the peer"
		fi
	fi
	serves_gen "$SERVED" "a private copy"
	echo "# $kind: the readers served generation $SERVED after $((SECONDS - start)) s"
	for r in $READERS; do
		n=$(grep -c "$RUN/vfs.sock: .*$warning" "$T/${r%%:*}.log")
		expect_eq "$n" 1 "$kind: ${r%%:*} warns once ($warning)"
	done
	serving "$kind" "$MOVIE"
	kill -0 "$peer" 2>/dev/null || fail "$kind: the peer died: $(cat "$T/peer-$kind.log")"
	kill "$peer"
	wait "$peer" 2>/dev/null
	rm -f "$RUN/vfs.sock"
}
hostile unsealed "not sealed against writing and resizing"
hostile file "cannot be sealed"
hostile silent "no answer within 2000 ms"
hostile garbage "not an answer of kvwatch's"
hostile nobody "served by uid 65534, not by the owner of the snapshot (uid 0)"

# ---- kvwatch as a user of its own, as under the supervisor ----
# The copy is taken from the owner of vfs.snapshot, not only from root.
chmod 0755 "$T"
chown nobody "$RUN"
chown -R nobody "$T/state"
start_bg kvwatch-nobody setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$KVW" -c "$T/fused.conf" -v
KV_PID=$LAST_PID
kv_wait 30 ".generation > $SERVED and .kv.connected and (.kv.resyncing | not)" \
	"kvwatch as nobody publishes"
expect_eq "$(stat -c %U "$RUN/vfs.snapshot")" nobody "vfs.snapshot belongs to kvwatch's user"
serves_gen "$(kv_hdr .generation)" "kvwatch's shared copy"
shared_everywhere "kvwatch as nobody"
serving "kvwatch as nobody" "$MOVIE"
kv_stop

# ---- the end: no crash, no sanitizer report ----
alive
stop_fused
for r in davd:$DAVD_PID apid:$APID_PID; do
	rc=0
	kill -TERM "${r#*:}"
	wait "${r#*:}" || rc=$?
	expect_eq "$rc" 0 "${r%%:*} exits 0 on SIGTERM"
done
! grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T"/kvwatch*.log "$T"/fused*.log \
	"$T"/davd.log "$T"/apid.log || fail "sanitizer report in the logs above"
ok "no sanitizer report"
