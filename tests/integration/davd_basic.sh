#!/bin/bash
# davd_basic: the share answers every read method as RFC 4918 and RFC 9110 say,
# checked with curl header by header: OPTIONS (class 1), PROPFIND Depth 0/1 with
# allprop, propname, prop and an empty body (the read-side checks of litmus:
# one response for Depth 0, both invalid bodies 400, UTF-8 names round-trip,
# Expect: 100-continue), GET/HEAD with ranges and conditionals, ETags stable
# across generations and restarts, content types, the HTML listing, write
# methods refused with nothing changed, and the client quirks (Windows, macOS,
# Infuse/Kodi).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"

serve_media
# libcurl (and the libraries it pulls in) only when a source URL is set.
grep -q 'libcurl' "/proc/$DAVD_PID/maps" && fail "davd mapped libcurl without a source URL"
ok "without a source URL, libcurl is not loaded"

# --- OPTIONS ---------------------------------------------------------------
h=$(curl -s -i -X OPTIONS "$URL/" | tr -d '\r')
expect_match "$h" '^HTTP/1.1 200' "OPTIONS on the share without credentials (Windows probes first)"
expect_match "$h" '^DAV: 1$' "OPTIONS claims class 1 only"
expect_match "$h" '^Allow: .*PROPFIND' "Allow lists PROPFIND"
expect_match "$h" '^MS-Author-Via: DAV' "MS-Author-Via: DAV"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS "http://127.0.0.1:$DAVD_PORT/")" 200 \
	"OPTIONS on / without credentials"

# --- PROPFIND --------------------------------------------------------------
dav -X PROPFIND -H 'Depth: 0' "$URL/" -o "$T/d0.xml" -w '%{http_code}' >"$T/code"
expect_eq "$(cat "$T/code")" 207 "PROPFIND Depth 0: 207"
well_formed "$T/d0.xml" || fail "Depth 0 reply is not well-formed XML"
expect_eq "$(multistatus "$T/d0.xml" | cut -f1)" "/webdav/" "Depth 0: exactly one response, the share's href"

dav -X PROPFIND -H 'Depth: 1' "$URL/Movies/" -o "$T/d1.xml"
well_formed "$T/d1.xml" || fail "Depth 1 reply is not well-formed XML"
multistatus "$T/d1.xml" | cut -f1 | sort >"$T/hrefs"
"$BIN/meta-fuse" dump --runtime-dir "$T/run" | python3 -c '
import json, sys
for l in sys.stdin:
    n = json.loads(l)
    if "path" in n and n["path"].count("/") == 2 and n["path"].startswith("/Movies/"):
        print("/webdav" + n["path"] + "/")
print("/webdav/Movies/")' | sort >"$T/want"
expect_eq "$(cat "$T/hrefs")" "$(cat "$T/want")" "Depth 1: every child once; UTF-8 and odd names round-trip through hrefs"
grep -q 'Amélie' "$T/hrefs" && grep -q '千と千尋の神隠し' "$T/hrefs" && grep -q 'Tom & Jerry 100% #1_ + more' "$T/hrefs" ||
	fail "names with UTF-8 and & % # ? + must appear decoded: $(cat "$T/hrefs")"
ok "hrefs decode to the exact names"
# (The rules replace ? < > " in names; & % # + ' and UTF-8 stay.)  Each href is usable as sent.
python3 - "$T/d1.xml" <<'PY' >"$T/rawhrefs"
import sys, xml.etree.ElementTree as ET
for h in ET.parse(sys.argv[1]).getroot().iter("{DAV:}href"):
    print(h.text)
PY
while read -r href; do
	c=$(status -X PROPFIND -H 'Depth: 0' "http://127.0.0.1:$DAVD_PORT$href")
	[ "$c" = 207 ] || fail "PROPFIND of the returned href $href: expected 207, got $c"
done <"$T/rawhrefs"
ok "every returned href resolves"

props=$(multistatus "$T/d1.xml" | grep '/Inception (2010)/')
expect_match "$props" '200:\{DAV:\}resourcetype=<ns0:collection xmlns:ns0="DAV:" />' "collections are collections"
expect_match "$props" '200:\{DAV:\}getcontentlength=0' "collections carry getcontentlength 0 (Infuse, Kodi)"
for p in getlastmodified creationdate displayname getetag supportedlock lockdiscovery getcontenttype; do
	expect_match "$props" "200:\\{DAV:\\}$p=" "allprop has $p"
done

dav -X PROPFIND -H 'Depth: 1' "$URL/Movies/Inception%20(2010)/" -o "$T/f.xml"
file=$(multistatus "$T/f.xml" | grep 'Inception.mkv')
expect_match "$file" '200:\{DAV:\}getcontentlength=5000' "file size"
expect_match "$file" '200:\{DAV:\}getcontenttype=video/x-matroska' "content type of .mkv"
expect_match "$file" '200:\{DAV:\}resourcetype=	' "files have an empty resourcetype"
expect_match "$(multistatus "$T/f.xml" | grep 'Inception.srt')" 'getcontenttype=application/x-subrip' \
	"content type of .srt"
lm=$(date -u -d @1600005000 '+%a, %d %b %Y %H:%M:%S GMT')
expect_match "$file" "getlastmodified=$lm" "getlastmodified is the source's mtime"

# An empty body is allprop; propname lists names only; prop asks for some.
expect_eq "$(dav -X PROPFIND -H 'Depth: 0' "$URL/" | md5sum)" \
	"$(dav -X PROPFIND -H 'Depth: 0' --data '<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>' "$URL/" | md5sum)" \
	"an empty body is allprop"
dav -X PROPFIND -H 'Depth: 0' --data '<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>' "$URL/" -o "$T/pn.xml"
expect_match "$(multistatus "$T/pn.xml")" '200:\{DAV:\}getetag=	' "propname: names without values"
dav -X PROPFIND -H 'Depth: 0' -H 'Content-Type: application/xml' --data \
	'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:E="http://example.com/ns"><D:prop><D:getetag/><E:color/><D:quota-available-bytes/></D:prop></D:propfind>' \
	"$URL/Movies/Inception%20(2010)/Inception.mkv" -o "$T/p.xml"
well_formed "$T/p.xml" || fail "prop reply is not well-formed"
pr=$(multistatus "$T/p.xml")
expect_match "$pr" '200:\{DAV:\}getetag="' "a requested live property: 200"
expect_match "$pr" '404:\{http://example.com/ns\}color=' "an unknown property: 404 inside the 207, in its namespace"
expect_match "$pr" '404:\{DAV:\}quota-available-bytes=' "quota properties: 404 (docs/davd.md)"
if printf '%s' "$pr" | grep_quiet '200:{DAV:}getcontentlength'; then fail "prop returned an unasked property"; fi
ok "prop returns only what was asked"

# Windows asks for its Win32 properties by name.
dav -X PROPFIND -H 'Depth: 1' --data '<D:propfind xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:prop><Z:Win32FileAttributes/><Z:Win32LastModifiedTime/></D:prop></D:propfind>' \
	"$URL/Movies/Inception%20(2010)/" -o "$T/w.xml"
w=$(multistatus "$T/w.xml")
expect_match "$w" 'Inception \(2010\)/	200:\{urn:schemas-microsoft-com:\}Win32FileAttributes=00000011' "Win32 attributes of a folder: directory + read-only"
expect_match "$w" 'Inception.mkv	200:\{urn:schemas-microsoft-com:\}Win32FileAttributes=00000001' "Win32 attributes of a file: read-only"

# litmus: both invalid bodies are 400; Expect: 100-continue works.
expect_eq "$(status -X PROPFIND -H 'Depth: 0' --data '<foo>' "$URL/")" 400 "a non-well-formed body: 400"
expect_eq "$(status -X PROPFIND -H 'Depth: 0' --data '<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>' "$URL/")" \
	400 "a bad namespace declaration: 400"
expect_eq "$(status -X PROPFIND -H 'Depth: 0' --data '<D:propfind xmlns:D="DAV:"><D:prop><nope:foo/></D:prop></D:propfind>' "$URL/")" \
	400 "an unbound prefix: 400"
expect_eq "$(status -X PROPFIND -H 'Depth: 0' --data '<x:propfind xmlns:x="urn:not-dav"><x:allprop/></x:propfind>' "$URL/")" \
	400 "a root that is not DAV:propfind: 400"
expect_eq "$(status -X PROPFIND -H 'Depth: 0' -H 'Expect: 100-continue' --data '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>' "$URL/")" \
	207 "Expect: 100-continue"

b=$(dav -i -X PROPFIND -H 'Depth: infinity' "$URL/" | tr -d '\r')
expect_match "$b" '^HTTP/1.1 403' "Depth infinity: 403"
expect_match "$b" '<D:propfind-finite-depth/>' "... with the propfind-finite-depth precondition"
expect_eq "$(status -X PROPFIND "$URL/")" 403 "no Depth means infinity: 403"
expect_eq "$(status -X PROPFIND -H 'Depth: 2' "$URL/")" 400 "Depth 2: 400"
expect_eq "$(status -X PROPFIND -H 'Depth: 0' "$URL/nothing/here")" 404 "PROPFIND of a missing path: 404"

# --- GET and HEAD ----------------------------------------------------------
F="$URL/Movies/Big%20One%20(2020)/Big%20One.mkv"
SRC="$T/files/m/big.mkv"
SIZE=$(stat -c %s "$SRC")
expect_eq "$(dav "$F" | md5sum)" "$(md5sum <"$SRC")" "GET: the source's bytes"
h=$(dav -I "$F" | tr -d '\r')
expect_match "$h" "Content-Length: $SIZE" "HEAD: exact Content-Length"
expect_match "$h" 'Accept-Ranges: bytes' "Accept-Ranges: bytes"
expect_match "$h" 'Content-Type: video/x-matroska' "Content-Type from the extension"
expect_match "$h" "Last-Modified: $(date -u -d @$((1600000000 + SIZE)) '+%a, %d %b %Y %H:%M:%S GMT')" "Last-Modified"
if printf '%s' "$h" | grep_quiet -i 'transfer-encoding: chunked'; then fail "GET must not be chunked"; fi
etag=$(printf '%s' "$h" | sed -n 's/^ETag: //p')
expect_match "$etag" '^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$' "a strong ETag"
# HEAD then OPTIONS on one connection: a body after HEAD would garble the second reply.
python3 - "$DAVD_PORT" <<'PY' >"$T/head.out"
import base64, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
auth = base64.b64encode(b"metamesh:metamesh").decode()
s.sendall(("HEAD /webdav/Movies/Big%20One%20(2020)/Big%20One.mkv HTTP/1.1\r\nHost: x\r\n"
           "Authorization: Basic " + auth + "\r\n\r\n"
           "OPTIONS /webdav/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode())
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
print(data.decode("latin-1").replace("\r", ""))
PY
expect_eq "$(grep -c '^HTTP/1.1 200' "$T/head.out")" 2 "HEAD: no body (the next reply on the connection is intact)"

r=$(dav -r 1000-1999 "$F" -o "$T/part" -D - | tr -d '\r')
expect_match "$r" '^HTTP/1.1 206' "Range a-b: 206"
expect_match "$r" "Content-Range: bytes 1000-1999/$SIZE" "Range a-b: Content-Range"
expect_eq "$(md5sum <"$T/part")" "$(dd if="$SRC" bs=1000 skip=1 count=1 2>/dev/null | md5sum)" "Range a-b: the right bytes"
r=$(dav -D - -o "$T/part" -r -500 "$F" | tr -d '\r')
expect_match "$r" "Content-Range: bytes $((SIZE - 500))-$((SIZE - 1))/$SIZE" "suffix range -500"
expect_eq "$(md5sum <"$T/part")" "$(tail -c 500 "$SRC" | md5sum)" "suffix range: the last 500 bytes"
r=$(dav -D - -o "$T/part" -r "$((SIZE - 100))-" "$F" | tr -d '\r')
expect_match "$r" "Content-Range: bytes $((SIZE - 100))-$((SIZE - 1))/$SIZE" "open range a-"
expect_eq "$(stat -c %s "$T/part")" 100 "open range: 100 bytes"
r=$(dav -D - -o /dev/null -r "$SIZE-" "$F" | tr -d '\r')
expect_match "$r" '^HTTP/1.1 416' "a range past the end: 416"
expect_match "$r" "Content-Range: bytes \\*/$SIZE" "416 carries bytes */size"
expect_eq "$(status -r 0-1,5-6 "$F")" 200 "several ranges: the whole file (200)"
expect_eq "$(status -H 'Range: bytes=9-3' "$F")" 200 "an invalid range is ignored (200)"
expect_eq "$(status -H 'Range: items=0-3' "$F")" 200 "another unit is ignored (200)"
expect_eq "$(status -r 0-9 -H "If-Range: $etag" "$F")" 206 "If-Range with the current ETag: 206"
expect_eq "$(status -r 0-9 -H 'If-Range: "other"' "$F")" 200 "If-Range with another ETag: 200, the whole file"
expect_eq "$(status -H "If-None-Match: $etag" "$F")" 304 "If-None-Match with the ETag: 304"
expect_eq "$(status -H "If-None-Match: \"x\", W/$etag" "$F")" 304 "If-None-Match, weak comparison in a list: 304"
expect_eq "$(status -H 'If-None-Match: "x"' "$F")" 200 "If-None-Match with another tag: 200"
expect_eq "$(status -H 'If-Modified-Since: Sat, 01 Jan 2050 00:00:00 GMT' "$F")" 304 "If-Modified-Since later: 304"
expect_eq "$(status -H 'If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT' "$F")" 200 "If-Modified-Since earlier: 200"
expect_eq "$(status -H 'If-Match: "nope"' "$F")" 412 "If-Match with another tag: 412"

# The ETag is the same for the next generation and after a restart.
publish --generation 7
wait_for 10 grep -q "serving generation 7" "$T/davd.log" || fail "generation 7 not served"
expect_eq "$(dav -I "$F" | tr -d '\r' | sed -n 's/^ETag: //p')" "$etag" "the ETag survives a new generation"
stop_davd
start_davd
expect_eq "$(dav -I "$F" | tr -d '\r' | sed -n 's/^ETag: //p')" "$etag" "the ETag survives a restart"

# --- HTML listing ------------------------------------------------------------
dav "$URL/Movies/" -o "$T/list.html"
grep -q 'Say &#39;Hi&#39; _now_' "$T/list.html" || fail "names must be escaped in HTML: $(cat "$T/list.html")"
grep -q 'Tom &amp; Jerry' "$T/list.html" || fail "& must be escaped in HTML"
grep -q 'href="../"' "$T/list.html" || fail "no parent link"
ok "the listing escapes names and links to the parent"
python3 - "$T/list.html" <<'PY' >"$T/links"
import re, sys
for h in re.findall(r'href="([^"]*)"', open(sys.argv[1], encoding="utf-8").read()):
    print(h)
PY
n=0
while read -r l; do
	c=$(status "$URL/Movies/$l")
	[ "$c" = 200 ] || fail "listing link $l: expected 200, got $c"
	n=$((n + 1))
done <"$T/links"
expect_eq "$n" 7 "every listing link works (6 entries + parent)"
expect_eq "$(dav -o /dev/null -D - "$URL/Movies" | tr -d '\r' | sed -n 's/^Location: //p')" "/webdav/Movies/" \
	"a collection without '/' redirects to it"
expect_eq "$(dav -o /dev/null -D - "http://127.0.0.1:$DAVD_PORT/" | tr -d '\r' | sed -n 's/^Location: //p')" \
	"/webdav/" "/ redirects to the share"
expect_match "$(dav -i "$URL/Movies/" | tr -d '\r')" 'Content-Type: text/html; charset=utf-8' "the listing is HTML"

# --- writes refused, nothing changed -------------------------------------------
before=$(find "$T/files" "$T/run" -type f -exec md5sum {} + | sort)
for m in PUT DELETE MKCOL COPY MOVE LOCK UNLOCK POST; do
	r=$(dav -i -X "$m" -H "Destination: $URL/x" --data 'x' "$F" | tr -d '\r')
	expect_match "$r" '^HTTP/1.1 405' "$m refused: 405"
	expect_match "$r" '^Allow: OPTIONS, GET, HEAD, PROPFIND, PROPPATCH' "$m: 405 with Allow"
done
p=$(dav -X PROPPATCH -i --data '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32LastModifiedTime>Thu, 01 Jan 2004 00:00:00 GMT</Z:Win32LastModifiedTime></D:prop></D:set></D:propertyupdate>' "$F" | tr -d '\r')
expect_match "$p" '^HTTP/1.1 207' "PROPPATCH: 207 (Windows), not a bare 405"
expect_match "$p" '<Z:Win32LastModifiedTime/></D:prop><D:status>HTTP/1.1 403' "PROPPATCH: 403 inside for each property"
after=$(find "$T/files" "$T/run" -type f ! -name davd.metrics -exec md5sum {} + | sort)
before=$(printf '%s\n' "$before" | grep -v davd.metrics)
expect_eq "$after" "$before" "nothing changed on disk"

# --- client quirks -------------------------------------------------------------
expect_eq "$(status "$URL/Movies/._Inception%20(2010)")" 404 "macOS ._ probe: 404"
expect_eq "$(status "$URL/.DS_Store")" 404 "macOS .DS_Store probe: 404"
nfd=$(python3 -c 'import unicodedata, urllib.parse; print(urllib.parse.quote(unicodedata.normalize("NFD", "/Movies/Le Fabuleux Destin d’Amélie Poulain (2001)/")))')
expect_eq "$(status -X PROPFIND -H 'Depth: 0' "$URL$nfd")" 207 "a name sent decomposed (NFD, Finder) finds the NFC entry"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -u "WORKGROUP\\$DAV_USER:$DAV_PASS" "$URL/")" 200 "DOMAIN\\user is taken as user (Windows)"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://$DAV_USER:$DAV_PASS@127.0.0.1:$DAVD_PORT/webdav/")" 200 "credentials in the URL (Infuse, Kodi)"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL/")" 401 "no credentials: 401"
expect_match "$(curl -s -i "$URL/" | tr -d '\r')" 'WWW-Authenticate: Basic realm="meta-fuse"' "401 names the realm"

# --- metrics for apid ------------------------------------------------------------
[ -f "$T/run/metrics/davd.metrics" ] || fail "no $T/run/metrics/davd.metrics"
ok "davd.metrics is in runtime_dir/metrics/"
grep -q "DEFAULT CREDENTIALS" "$T/davd.log" || fail "no warning about the default credentials"
ok "a loud warning about the default credentials"
stop_davd
[ ! -e "$T/run/metrics/davd.metrics" ] || fail "davd.metrics left behind"
ok "davd.metrics removed on exit"
check_sanitizer
