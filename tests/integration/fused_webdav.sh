#!/bin/bash
# fused_webdav: with source_webdav_url set, files not readable under the files
# volume are read from <url>/<filePath> with HTTP Range requests.  Contents are
# right (whole, and at random offsets), sequential reads fetch ahead (fewer
# requests than kernel reads), local files are still read locally, a missing
# file is ENOENT, and a server that is down or stalls gives EIO, never a hang.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"
need python3 curl

PORT=$(free_port)
make_library 3 2
# Move every source but leftover.bin to the "remote" side.
mkdir -p "$T/dav"
cp -a "$T/files/." "$T/dav/"
find "$T/files" -type f ! -name leftover.bin -delete
echo "remote copy" >"$T/dav/media2/leftover.bin.remote"

cat >"$T/range_server.py" <<'EOF'
# A minimal HTTP/1.1 file server with Range support, logging each request.
import http.server, os, re, sys, time
root, port, log = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def target(self):
        from urllib.parse import unquote
        p = os.path.normpath(unquote(self.path.split("?")[0]))
        return os.path.join(root, p.lstrip("/"))
    def send_file(self, body):
        f = self.target()
        log.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Range", "-")))
        if "stall" in self.path and self.command == "GET":
            time.sleep(3600)
        if not os.path.isfile(f):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        size = os.path.getsize(f)
        start, end, code = 0, size - 1, 200
        m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m:
            start = int(m.group(1)); end = min(int(m.group(2) or size - 1), size - 1); code = 206
            if start >= size:
                self.send_response(416); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(code)
        self.send_header("Content-Length", str(end - start + 1))
        if code == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if body:
            with open(f, "rb") as fp:
                fp.seek(start); self.wfile.write(fp.read(end - start + 1))
    def do_HEAD(self): self.send_file(False)
    def do_GET(self): self.send_file(True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
start_bg httpd python3 "$T/range_server.py" "$T/dav" "$PORT" "$T/requests.log"
HTTPD_PID=$LAST_PID
wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$PORT/media2/leftover.bin" || fail "test server did not start"
: >"$T/requests.log"

# A file that exists remotely only under a name that needs escaping, and one that stalls.
mkdir -p "$T/dav/media3"
head -c 100000 /dev/urandom >"$T/dav/media3/a b&c%d.mkv"
head -c 100000 /dev/urandom >"$T/dav/media3/stall.mkv"
printf '{"hashId": "esc", "filePath": "media3/a b&c%%d.mkv", "title": "Escaped", "size": 100000}\n' >>"$T/records.jsonl"
printf '{"hashId": "stall", "filePath": "media3/stall.mkv", "title": "Stall", "size": 100000}\n' >>"$T/records.jsonl"
printf '{"hashId": "gone", "filePath": "media3/nowhere.mkv", "title": "Nowhere", "size": 100}\n' >>"$T/records.jsonl"

fused_config source_webdav_url="http://127.0.0.1:$PORT/"
publish
start_fused

BIG="$MNT/Movies/Big One (2020)/Big One.mkv"
expect_eq "$(md5sum <"$BIG")" "$(md5sum <"$T/dav/media2/big.mkv")" "a 3 MiB file read over WebDAV"
gets=$(grep -c '^GET /media2/big.mkv bytes=' "$T/requests.log")
[ "$gets" -ge 1 ] && [ "$gets" -le 8 ] || fail "expected 1..8 Range GETs for 3 MiB (read-ahead), got $gets"
ok "sequential reads fetch ahead: $gets Range requests for 3 MiB"
expect_eq "$(dd if="$BIG" bs=1000 skip=2345 count=3 iflag=direct 2>/dev/null | md5sum)" \
	"$(dd if="$T/dav/media2/big.mkv" bs=1000 skip=2345 count=3 2>/dev/null | md5sum)" \
	"a read at an odd offset"
bad=0
while IFS=$'\t' read -r path size mtime src; do
	case "$path" in *Stall*|*Nowhere*) continue ;; esac
	want="$T/dav/$src"
	[ -e "$T/files/$src" ] && want="$T/files/$src"
	cmp -s "$MNT$path" "$want" || { echo "content of $path differs"; bad=1; }
done < <(dump_files)
expect_eq "$bad" 0 "every file reads right (the escaped name too)"
expect_match "$(grep HEAD "$T/requests.log")" "media3/a%20b%26c%25d.mkv" "the path is percent-encoded"
grep -q "leftover.bin" "$T/requests.log" && fail "a local file was fetched over WebDAV"
ok "local files are read locally"

out=$(cat "$MNT/Movies/Nowhere/Nowhere.mkv" 2>&1) && fail "a file missing everywhere was served"
expect_match "$out" "No such file or directory" "missing locally and remotely: ENOENT"

# A stalled transfer ends in EIO after the stall timeout (15 s), not never.
start=$SECONDS
out=$(timeout 60 cat "$MNT/Movies/Stall/Stall.mkv" 2>&1)
rc=$?
[ $rc -eq 124 ] && fail "a stalled WebDAV read hung"
expect_match "$out" "Input/output error" "a stalled server: EIO after $((SECONDS - start)) s"

# The server gone: EIO at once.
kill -TERM "$HTTPD_PID"
wait "$HTTPD_PID" 2>/dev/null
start=$SECONDS
out=$(timeout 30 cat "$MNT/Movies/Escaped/Escaped.mkv" 2>&1)
[ $? -eq 124 ] && fail "a read with the server down hung"
expect_match "$out" "Input/output error" "the server down: EIO"
[ $((SECONDS - start)) -le 6 ] || fail "EIO took $((SECONDS - start)) s"
expect_eq "$(md5sum <"$MNT/Other/leftover.bin")" "$(md5sum <"$T/files/media2/leftover.bin")" \
	"local files still read"
stop_fused
check_sanitizer
