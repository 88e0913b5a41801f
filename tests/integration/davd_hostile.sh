#!/bin/bash
# davd_hostile: requests meant to hurt the share are each answered as specified,
# and the share keeps serving everybody else: malformed XML, an entity bomb and
# an external entity (400, at once), bodies over the limit (413), headers over
# the limit (431), bad Depth
# (400), bad Range (ignored: 200), path traversal in every encoding (400 or
# 404, never a byte from outside the tree), wrong and missing credentials (401,
# then 429 for that address only), slow-loris and silent clients (closed after
# the idle timeout, others served meanwhile), 1,000 idle connections at once
# (served beside them; the per-address limit holds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"

davd_config extra="idle_timeout_s = 3; max_connections = 1500; max_connections_per_address = 300;"
make_media
publish
start_davd
F="$URL/Movies/Inception%20(2010)/Inception.mkv"
GOOD=$(md5sum <"$T/files/m/inception.mkv")
serving() {
	[ "$(dav "$F" | md5sum)" = "$GOOD" ] || fail "the share stopped serving after: $1"
}

# --- XML ---------------------------------------------------------------------
pf() { status -X PROPFIND -H 'Depth: 0' -H 'Content-Type: application/xml' --data-binary "$1" "$URL/"; }
expect_eq "$(pf '<D:propfind xmlns:D="DAV:"><D:allprop></D:propfind>')" 400 "mismatched tags: 400"
expect_eq "$(pf 'not xml at all')" 400 "not XML: 400"
expect_eq "$(pf '<?xml version="1.0"?>')" 400 "no root element: 400"
expect_eq "$(pf $'\xff\xfe<\x00D\x00')" 400 "bad encoding: 400"
bomb='<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"><!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"><!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"><!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol9;</D:displayname></D:prop></D:propfind>'
start=$(date +%s%N)
expect_eq "$(pf "$bomb")" 400 "an entity bomb: 400"
[ $((($(date +%s%N) - start) / 1000000)) -lt 2000 ] || fail "the bomb took over 2 s"
ok "... at once"
expect_eq "$(pf '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&x;</D:displayname></D:prop></D:propfind>')" \
	400 "an external entity: 400"
expect_eq "$(pf '<!DOCTYPE D:propfind><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>')" 400 "any DTD: 400"
expect_eq "$(pf '<D:propfind xmlns:D="DAV:"><D:prop><x:a xmlns:x=""/></D:prop></D:propfind>')" 400 "an empty prefixed namespace: 400"
deep=$(printf '<a>%.0s' $(seq 100))
expect_eq "$(pf "<D:propfind xmlns:D=\"DAV:\"><D:prop>$deep")" 400 "nesting 100 deep: 400"
many=$(for i in $(seq 100); do printf '<D:p%d/>' "$i"; done)
expect_eq "$(pf "<D:propfind xmlns:D=\"DAV:\"><D:prop>$many</D:prop></D:propfind>")" 400 "100 properties in one request: 400"
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.xml"
expect_eq "$(status -X PROPFIND -H 'Depth: 0' --data-binary @"$T/big.xml" "$URL/")" 413 "a body over 64 KiB: 413"
expect_eq "$(status -X PROPFIND -H 'Depth: 0' -H 'Transfer-Encoding: chunked' --data-binary @"$T/big.xml" "$URL/")" \
	413 "a chunked body over 64 KiB: 413"
expect_eq "$(status -X PUT -H 'Content-Length: 10000000000' -H 'Expect: 100-continue' --max-time 5 "$URL/x" --data x)" \
	413 "a PUT announcing 10 GB: 413 before any body"
serving "the XML cases"

# --- Depth, Range ----------------------------------------------------------------
for d in 2 -1 one '1,0' '0 1'; do
	expect_eq "$(status -X PROPFIND -H "Depth: $d" "$URL/")" 400 "Depth '$d': 400"
done
expect_eq "$(status -X PROPFIND -H 'Depth;' "$URL/")" 400 "an empty Depth: 400"
for r in 'bytes=abc' 'bytes=--1' 'bytes=99999999999999999999999-' 'bytes=5' 'bytes=1-2-3' 'bytes= -'; do
	expect_eq "$(status -H "Range: $r" "$F")" 200 "Range '$r' ignored: 200"
done
expect_eq "$(status -H 'Range: bytes=0-0' "$F")" 206 "Range bytes=0-0: 206"
expect_eq "$(status -H 'Range: bytes=-0' "$F")" 416 "Range bytes=-0: 416"
serving "Depth and Range"

# --- header size (16 KiB of request line and headers per connection) --------------
pad=$(head -c 12000 /dev/zero | tr '\0' 'a')
expect_eq "$(status -H "X-Pad: $pad" "$F")" 200 "12 kB of headers: served"
pad=$(head -c 20000 /dev/zero | tr '\0' 'a')
c=$(status -H "X-Pad: $pad" "$F")
case "$c" in 431 | 413 | 400) ok "20 kB of headers: refused ($c)" ;; *) fail "20 kB of headers: expected 431, got $c" ;; esac
expect_eq "$(status "$F")" 200 "served after the oversized headers"

# --- traversal ---------------------------------------------------------------------
raw() { curl -s --path-as-is -o "$T/raw.out" -w '%{http_code}' -u "$DAV_USER:$DAV_PASS" "http://127.0.0.1:$DAVD_PORT$1"; }
for p in '/webdav/../etc/passwd' '/webdav/%2e%2e/etc/passwd' '/webdav/%2E%2E/%2E%2E/etc/passwd' \
	'/webdav/.%2e/x' '/webdav/Movies%2f..%2f..%2fetc' '/webdav/..%5c..%5cetc' '/webdav/..\..\etc' \
	'/webdav/%c0%ae%c0%ae/etc/passwd' '/webdav/%c0%af' '/webdav/%e0%80%ae%e0%80%ae/x' \
	'/webdav/Movies%00.mkv' '/webdav/%ff' '/webdav/%zz' '/webdav/%'; do
	expect_eq "$(raw "$p")" 400 "traversal $p: 400"
done
for p in '/webdav/%252e%252e/etc/passwd' '/webdav//etc/passwd' '/webdav/Movies/../../../../etc/passwd/' \
	'/etc/passwd' '/webdav/./././etc/passwd'; do
	c=$(raw "$p")
	case "$c" in 400 | 404) ok "traversal $p: $c" ;; *) fail "traversal $p: expected 400 or 404, got $c" ;; esac
	if grep -q 'root:' "$T/raw.out"; then fail "$p served /etc/passwd"; fi
done
serving "traversal"

# --- credentials ---------------------------------------------------------------------
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$F")" 401 "no credentials: 401"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Basic !!!' "$F")" 401 "garbage credentials: 401"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer abc' "$F")" 401 "another scheme: 401"
for i in 1 2 3 4 5; do
	c=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 -u "$DAV_USER:wrong$i" "$F")
	[ "$c" = 401 ] || fail "wrong password $i: expected 401, got $c"
done
ok "five wrong passwords: 401 each"
h=$(curl -s -D - -o /dev/null --interface 127.0.0.2 -u "$DAV_USER:$DAV_PASS" "$F" | tr -d '\r')
expect_match "$h" '^HTTP/1.1 429' "the sixth attempt from that address: 429, even with the right password"
expect_match "$h" '^Retry-After: [0-9]+' "... with Retry-After"
serving "a slowed address (others are not slowed)"
sleep 2
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 -u "$DAV_USER:$DAV_PASS" "$F")" 200 \
	"after the wait the right password works again"

# --- slow and idle clients, many connections ------------------------------------------
cat >"$T/conns.py" <<'PY'
# conns.py PORT MODE: hostile connections, reporting what the server did.
import select, socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
def conn(src="127.0.0.1"):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s
def closed_within(s, secs):
    s.settimeout(secs)
    try:
        return s.recv(1) == b""
    except (socket.timeout, ConnectionResetError):
        return False
if mode == "idle":  # half a request, then silence: closed after the idle timeout
    s = conn()
    s.sendall(b"GET /webdav/ HTTP/1.1\r\nHost: x\r\n")
    t0 = time.time()
    print("closed" if closed_within(s, 10) else "open", round(time.time() - t0))
elif mode == "loris":  # 40 clients dribbling a header byte every second for 8 s
    socks = [conn() for _ in range(40)]
    line = b"GET /webdav/ HTTP/1.1\r\nHost: x\r\nX-a: " + b"a" * 8
    for i in range(8):
        for s in socks:
            try:
                s.send(line[i:i + 1])
            except OSError:
                pass
        time.sleep(1)
    print("done")
elif mode == "many":  # 1,000 idle connections from four addresses, held 6 s
    socks = []
    for a in range(4):
        socks += [conn("127.0.0.%d" % (10 + a)) for _ in range(250)]
    print("open", len(socks), flush=True)
    time.sleep(6)
elif mode == "peraddr":  # 310 from one address: the limit is 300
    socks = [conn("127.0.0.20") for _ in range(310)]
    time.sleep(1)  # well within the idle timeout: only refused ones are closed
    ready, _, _ = select.select(socks, [], [], 0.2)
    print("dropped", sum(1 for s in ready if closed_within(s, 0.2)))
PY
expect_match "$(python3 "$T/conns.py" "$DAVD_PORT" idle)" '^closed [2-5]$' "a client silent mid-request is closed after the idle timeout (3 s)"

python3 "$T/conns.py" "$DAVD_PORT" loris >"$T/loris.out" &
LORIS=$!
sleep 2
t0=$(date +%s%N)
serving "slow-loris clients"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 2000 ] || fail "served in $ms ms beside slow-loris clients"
ok "served in $ms ms beside 40 slow-loris clients"
wait "$LORIS"

python3 "$T/conns.py" "$DAVD_PORT" many >"$T/many.out" &
MANY=$!
wait_for 20 grep -q '^open 1000' "$T/many.out" || fail "could not open 1,000 connections: $(cat "$T/many.out")"
t0=$(date +%s%N)
serving "1,000 idle connections"
ms=$((($(date +%s%N) - t0) / 1000000))
ok "served in $ms ms beside 1,000 idle connections"
expect_eq "$(status -X PROPFIND -H 'Depth: 1' "$URL/Movies/")" 207 "PROPFIND beside 1,000 idle connections"
wait "$MANY"
expect_eq "$(python3 "$T/conns.py" "$DAVD_PORT" peraddr)" "dropped 10" "connections per address are limited (300)"

serving "everything above"
kill -0 "$DAVD_PID" || fail "davd died"
stop_davd
check_sanitizer
