#!/bin/bash
# davd_source: with source_webdav_url set, a file absent under the files volume
# is streamed from the source with the Range passed on, and the source must
# answer exactly the range asked (and its size counts, not a wrong one in the
# record): a source that ignores Range (200 with the whole file) or answers
# another range (a wrong Content-Range) makes the request fail (502, or the
# connection cut mid-body) -- never a wrong byte served.  The source is a
# small Python server run by the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"

SRC_PORT=$(free_port)
cat >"$T/source.py" <<'PY'
# source.py ROOT PORT: serves ROOT with Range; the first path component picks a
# behaviour: good/ (correct), ignore/ (200 and the whole file to any Range),
# shifted/ (206 for the range one byte later, labelled as such).
import http.server, os, re, sys
from urllib.parse import unquote
root, port = sys.argv[1], int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self, body):
        rel = unquote(self.path).lstrip("/")
        mode = rel.partition("/")[0]
        f = os.path.join(root, rel)
        if not os.path.isfile(f):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        data = open(f, "rb").read()
        size = len(data)
        m = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
        if not m or mode == "ignore":
            self.send_response(200); self.send_header("Content-Length", str(size)); self.end_headers()
            if body: self.wfile.write(data)
            return
        a = int(m.group(1)); b = min(int(m.group(2) or size - 1), size - 1)
        if mode == "shifted" and a + 1 < size:
            a += 1; b = min(b + 1, size - 1)
        self.send_response(206)
        self.send_header("Content-Range", "bytes %d-%d/%d" % (a, b, size))
        self.send_header("Content-Length", str(b - a + 1))
        self.end_headers()
        if body: self.wfile.write(data[a:b + 1])
    def do_HEAD(self): self.answer(False)
    def do_GET(self): self.answer(True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
mkdir -p "$T/remote"
start_bg source python3 "$T/source.py" "$T/remote" "$SRC_PORT"
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$SRC_PORT/" || fail "the source server did not start"

# Three files that exist only at the source, one per behaviour.
: >"$T/records.jsonl"
for mode in good ignore shifted; do
	media "$mode/film.mkv" $((1024 * 1024 + 777)) "$mode" "\"title\": \"Film $mode\", \"year\": 2000"
done
# One more whose record claims 10 bytes: the source's word counts, not the snapshot's.
media "good/wrong.mkv" 3000 wrongsize '"title": "Wrong Size", "year": 2001'
python3 - "$T/records.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
for d in lines:
    if d["hashId"] == "wrongsize":
        d["size"] = 10
open(sys.argv[1], "w").write("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in lines))
PY
mv "$T/files/good" "$T/files/ignore" "$T/files/shifted" "$T/remote/"
davd_config source_webdav_url="http://127.0.0.1:$SRC_PORT/"
publish
start_davd
grep -q 'libcurl' "/proc/$DAVD_PID/maps" || fail "davd did not load libcurl for the source URL"
ok "with a source URL, davd has loaded libcurl (dlopen)"
u() { echo "$URL/Movies/Film%20$1%20(2000)/Film%20$1.mkv"; }
orig() { echo "$T/remote/$1/film.mkv"; }
SIZE=$((1024 * 1024 + 777))

expect_eq "$(dav "$(u good)" | md5sum)" "$(md5sum <"$(orig good)")" "a file from the source: its bytes"
expect_eq "$(dav -I "$(u good)" | tr -d '\r' | sed -n 's/^Content-Length: //p')" "$SIZE" "HEAD: the size"
r=$(dav -D "$T/h" -r 500000-500999 "$(u good)" | md5sum)
expect_match "$(tr -d '\r' <"$T/h")" '^HTTP/1.1 206' "a Range through the source: 206"
expect_eq "$r" "$(dd if="$(orig good)" iflag=skip_bytes,count_bytes skip=500000 count=1000 2>/dev/null | md5sum)" \
	"a Range through the source: the right bytes"

WRONG="$URL/Movies/Wrong%20Size%20(2001)/Wrong%20Size.mkv"
dav -D "$T/h" -o "$T/got" "$WRONG"
cmp -s "$T/got" "$T/remote/good/wrong.mkv" || fail "a wrong size in the record: GET differs from the source"
ok "a wrong size (10) in the record: GET sends the source's 3000 bytes"
expect_eq "$(tr -d '\r' <"$T/h" | sed -n 's/^Content-Length: //p')" 3000 "wrong size: GET Content-Length is the source's"
expect_eq "$(dav -I "$WRONG" | tr -d '\r' | sed -n 's/^Content-Length: //p')" 3000 "wrong size: HEAD Content-Length is the source's"
expect_match "$(tr -d '\r' <"$T/h" | sed -n 's/^ETag: //p')" '^"[0-9a-f]+-bb8-[0-9a-f]+"$' "wrong size: the ETag carries 3000 (bb8)"
expect_eq "$(dav -r -100 "$WRONG" | md5sum)" "$(tail -c 100 "$T/remote/good/wrong.mkv" | md5sum)" \
	"wrong size: a Range at the end through the source"

# Bad sources: the request fails, and what arrived is never wrong.
for mode in ignore shifted; do
	for range in 500000-500999 0-; do
		rm -f "$T/got"
		code=$(dav -o "$T/got" -w '%{http_code}' -r "$range" "$(u "$mode")")
		rc=$?
		start=${range%-*}
		got=$(stat -c %s "$T/got" 2>/dev/null || echo 0)
		if [ "$code" = 206 ] && [ "$rc" = 0 ]; then
			expect_eq "$(md5sum <"$T/got")" \
				"$(dd if="$(orig "$mode")" iflag=skip_bytes,count_bytes skip="$start" count="$got" 2>/dev/null | md5sum)" \
				"$mode source, range $range: served whole, so it must be right"
			fail "$mode source, range $range: expected a failure, got a complete 206"
		fi
		if [ "$code" = 206 ] || [ "$code" = 200 ]; then
			# Cut mid-body: what came must be the start of the right range.
			expect_eq "$(md5sum <"$T/got")" \
				"$(dd if="$(orig "$mode")" iflag=skip_bytes,count_bytes skip="$start" count="$got" 2>/dev/null | md5sum)" \
				"$mode source, range $range: cut after $got bytes, all of them right"
		else
			expect_eq "$code" 502 "$mode source, range $range: 502"
		fi
	done
done
serving_ok=$(dav "$(u good)" | md5sum)
expect_eq "$serving_ok" "$(md5sum <"$(orig good)")" "the good source still serves after the bad ones"
stop_davd
check_sanitizer
