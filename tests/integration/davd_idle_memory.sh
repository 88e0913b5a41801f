#!/bin/bash
# davd_idle_memory: after a burst of clients (32 connections of PROPFINDs and
# listings) has gone, davd's anonymous memory is back within 1 MiB of what it
# was idle before: blocks of 64 KiB and more are mmap'd and given back when
# freed, and the threads' malloc arenas are trimmed when the last connection
# closes (without both, 6-7 MB stayed; with the trim alone, 2-3 MB).
# Memory figures of a sanitized build say nothing about glibc's malloc: there
# the test reports itself skipped (run it on a Release build).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"

if ldd "$BIN/meta-fuse-davd" | grep_quiet 'libasan'; then
	skip "an AddressSanitizer build: its allocator is not glibc's (run on a Release build)"
fi
N=3000
davd_config
python3 - "$N" >"$T/records.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"hashId": "h%d" % i, "filePath": "m/f%d.mkv" % (i % 3), "size": 1000,
                      "mtime": 1600000000 + i, "title": "Film Number %06d" % i, "year": 2000}))
PY
mkdir -p "$T/files/m"
for i in 0 1 2; do head -c 1000 /dev/urandom >"$T/files/m/f$i.mkv"; done
publish
start_davd
anon() { awk '/^RssAnon:/ {print $2}' "/proc/$DAVD_PID/status"; }
sleep 0.5
idle=$(anon)

# 32 connections, each keep-alive: PROPFINDs of the 3,000 entries (streamed in
# 64 KiB chunks) and GETs, then closed.
python3 - "$DAVD_PORT" <<'PY' || fail "the burst failed"
import base64, http.client, sys, threading
port, errors = int(sys.argv[1]), []
auth = {"Authorization": "Basic " + base64.b64encode(b"metamesh:metamesh").decode()}
def client():
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(6):
            c.request("PROPFIND", "/webdav/Movies/", headers=dict(auth, Depth="1"))
            r = c.getresponse(); r.read()
            assert r.status == 207, r.status
            c.request("GET", "/webdav/Movies/", headers=auth)
            r = c.getresponse(); r.read()
            assert r.status == 200, r.status
        c.close()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=client) for _ in range(32)]
[t.start() for t in ts]
[t.join() for t in ts]
sys.exit("; ".join(errors[:3]) if errors else 0)
PY
peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$DAVD_PID/status")
near_idle() { [ "$(anon)" -le $((idle + 1024)) ]; }
wait_for 5 near_idle
after=$(anon)
echo "note: anonymous RSS idle $idle kB, after the burst $after kB (peak RSS $peak kB)"
if [ "$after" -gt $((idle + 1024)) ]; then
	cat "/proc/$DAVD_PID/smaps_rollup" >&2
	fail "anonymous memory after the burst: $after kB, idle before: $idle kB (more than 1 MiB kept)"
fi
ok "anonymous memory back within 1 MiB of idle after the burst"
stop_davd
check_sanitizer
