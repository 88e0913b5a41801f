#!/bin/bash
# davd_propfind: what a PROPFIND reply says about each entry, checked against
# the snapshot's own dump by an independent reader (Python's XML parser and
# percent-decoding), over every way a reply is written: a small collection
# generated whole, a large one streamed with its exact Content-Length, and a
# large one with sizes measured at the source (streamed chunked).  Names are
# hostile: '%', '&', '#', quotes, "]]", NFC and NFD accents, CJK, emoji, and
# 255-byte names of one- and two-byte characters, in file and collection
# names; sizes span 0 to 2^40 and times several days.  For allprop (an empty body and <allprop/>), a <prop>
# list with unknown and foreign-namespace properties, and <propname/>, at
# Depth 0 and 1: well-formed XML, every href once, percent-encoded with only
# unreserved bytes, decoding to the entry's path; displayname, size, ETag,
# dates, type, resource type as the dump has them; unknown properties in a 404
# propstat in their own namespace; Content-Length the body's length.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"

DUMP="$BIN/meta-fuse"
[ -x "$DUMP" ] || skip "meta-fuse is not built"

# records N [measured]: N hostile-named files under /Other; with "measured",
# every record lacks its size (flagged: davd stats the source file).
records() {
	python3 - "$1" "${2:-}" "$T/files" >"$T/records.jsonl" <<'PY'
import json, os, sys
n, measured, root = int(sys.argv[1]), sys.argv[2] == "measured", sys.argv[3]
names = [
    "100% & 'quotes' ]] #1 + a=b;c.mkv",
    "Am\u00e9lie.mkv",
    "Ame\u0301lie (NFD).mkv",
    "\u5343\u3068\u5343\u5c0b\u306e\u795e\u96a0\u3057.mkv",
    "\U0001F3AC film ]]x.mp4",
    "x" * 251 + ".mkv",
    "\u00e9" * 125 + "a.mkv",
    "spaces  and\ttab.avi",
    "no extension",
    "upper.MKV",
    "sub.srt",
    "clip.webm",
    "stream.m2ts",
    "odd.ext12",
    "%41%2F%2e%2e.mkv",
]
i = 0
while len(names) < n:
    names.append("filler %03d &amp; 100%%.ts" % i)
    i += 1
for i, name in enumerate(names[:n]):
    rel = "src/%d/%s" % (i, name)
    rec = {"hashId": "h%04d" % i, "filePath": rel, "mtime": 1600000000 + i * 40000}
    size = [0, 1, 1023, 1 << 40, 123456789][i % 5]
    if measured:
        size = i * 7  # the source file's, which davd measures
        os.makedirs(os.path.join(root, "src", str(i)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(b"x" * size)
    else:
        rec["size"] = size
    print(json.dumps(rec, ensure_ascii=False))
# Collections with hostile names, /Movies/<title> (<year>)/: more than a
# reply generated whole holds when the files are too.
titles = ["Tom & Jerry 100%", "]]> Ame\u0301lie #2", "\u5343\u3068 'x'", "\u00e9" * 120]
titles += ["Film %03d & 100%%" % i for i in range(260 if n > 256 else 0)]
for i, title in enumerate(titles):
    rel = "movies/%d.mkv" % i
    rec = {"hashId": "m%d" % i, "filePath": rel, "title": title, "year": 2001 + i,
           "size": 5, "mtime": 1500000000 + i}
    if measured:
        del rec["size"]
        os.makedirs(os.path.join(root, "movies"), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(b"12345")
    print(json.dumps(rec, ensure_ascii=False))
PY
}

PROP='<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/><D:getetag/><D:nosuch/><X:custom xmlns:X="urn:x-test:a&amp;b"/><D:getcontentlength/><D:displayname/><Z:Win32FileAttributes xmlns:Z="urn:schemas-microsoft-com:"/><plain xmlns=""/></D:prop></D:propfind>'
ALLPROP='<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><allprop/></propfind>'
PROPNAME='<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><propname/></propfind>'

# check WHAT BODY-KIND DEPTH FRAMING [COLLECTION]: PROPFIND /Other/ (or
# COLLECTION) and check the reply.
check() {
	local what=$1 kind=$2 depth=$3 framing=$4 coll=${5:-Other} body=""
	case $kind in
	prop) body=$PROP ;;
	allprop) body=$ALLPROP ;;
	propname) body=$PROPNAME ;;
	esac
	rm -f "$T/reply.xml" "$T/reply.h"
	if [ -n "$body" ]; then
		dav -X PROPFIND -H "Depth: $depth" -H 'Content-Type: application/xml' \
			--data-binary "$body" -D "$T/reply.h" -o "$T/reply.xml" "$URL/$coll/"
	else
		dav -X PROPFIND -H "Depth: $depth" -D "$T/reply.h" -o "$T/reply.xml" "$URL/$coll/"
	fi
	python3 - "$T/reply.xml" "$T/reply.h" "$T/dump.jsonl" "$kind" "$depth" "$framing" \
		"$T/files" "/$coll" <<'PY' || fail "$what: $kind, Depth $depth, /$coll"
import email.utils, json, os, re, sys, urllib.parse
import xml.etree.ElementTree as ET

reply, headers, dump, kind, depth, framing, files, coll = sys.argv[1:9]
depth = int(depth)
body = open(reply, "rb").read()
head = open(headers, "rb").read().decode("latin-1").replace("\r", "")
D = "{DAV:}"
Z = "{urn:schemas-microsoft-com:}"

def bad(msg):
    print("FAIL:", msg)
    sys.exit(1)

if not head.startswith("HTTP/1.1 207"):
    bad("expected 207, got " + head.splitlines()[0])
m = re.search(r"^Content-Length: (\d+)$", head, re.M | re.I)
chunked = re.search(r"^Transfer-Encoding: chunked$", head, re.M | re.I)
if framing == "length" and (not m or int(m.group(1)) != len(body)):
    bad("expected Content-Length %d, got %s" % (len(body), m.group(1) if m else "none"))
if framing == "chunked" and not chunked:
    bad("expected a chunked reply, got headers:\n" + head)

nodes = {}
for line in open(dump):
    d = json.loads(line)
    if "path" in d and (d["path"] == coll or d["path"].startswith(coll + "/")):
        if d["path"] == coll or "/" not in d["path"][len(coll) + 1:]:
            nodes[d["path"]] = d
want = {coll} | ({p for p in nodes if p != coll} if depth == 1 else set())

root = ET.fromstring(body)  # well-formed, namespaces bound
if root.tag != D + "multistatus":
    bad("root is " + root.tag)
seen = set()
types = {"mkv": "video/x-matroska", "mp4": "video/mp4", "avi": "video/x-msvideo",
         "srt": "application/x-subrip", "webm": "video/webm", "m2ts": "video/mp2t",
         "ts": "video/mp2t"}
for r in root.findall(D + "response"):
    href = r.find(D + "href").text
    if not re.fullmatch(r"[A-Za-z0-9._~/%-]+", href):
        bad("href with a byte that is not percent-encoded: %r" % href)
    raw = urllib.parse.unquote_to_bytes(href)
    if not raw.startswith(b"/webdav/"):
        bad("href outside the base: %r" % href)
    path = raw[len(b"/webdav"):].decode("utf-8")
    n = nodes.get(path.rstrip("/")) if path != "/" else None
    if n is None:
        bad("href of no entry: %r" % path)
    if path.endswith("/") != (n["type"] == "dir"):
        bad("collection hrefs end in '/', files' do not: %r" % path)
    path = path.rstrip("/")
    if path in seen:
        bad("href twice: %r" % path)
    seen.add(path)
    stats = {}
    for ps in r.findall(D + "propstat"):
        code = ps.find(D + "status").text
        for p in ps.find(D + "prop"):
            stats.setdefault(code, []).append(p)
    name = path.rsplit("/", 1)[1]
    isdir = n["type"] == "dir"
    size = 0 if isdir else n["size"]
    if framing == "chunked" and not isdir:
        size = os.path.getsize(os.path.join(files, n["source"]))
    secs = n["mtime"] // 1000
    ok = stats.get("HTTP/1.1 200 OK", [])
    nf = stats.get("HTTP/1.1 404 Not Found", [])
    if kind == "propname":
        tags = [p.tag for p in ok]
        if len(tags) != 13 or any(p.text or len(p) for p in ok) or nf:
            bad("propname: %r" % tags)
        if D + "getetag" not in tags or Z + "Win32FileAttributes" not in tags:
            bad("propname lacks a name: %r" % tags)
        continue
    vals = {}
    for p in ok:
        vals.setdefault(p.tag, []).append(p)
    def text(tag):
        return vals[tag][0].text or ""
    etag = '"%x-%x-%x"' % (n["id"], size, n["mtime"] * 1000000)
    if kind == "prop":
        order = [p.tag for p in ok]
        if order != [D + "displayname", D + "getetag", D + "getcontentlength",
                     D + "displayname", Z + "Win32FileAttributes"]:
            bad("prop: the known properties in the order asked, got %r" % order)
        missing = [(p.tag, p.text, len(p)) for p in nf]
        if missing != [(D + "nosuch", None, 0), ("{urn:x-test:a&b}custom", None, 0),
                       ("plain", None, 0)]:
            bad("prop: the unknown properties in a 404 propstat, got %r" % missing)
        if [p.text for p in vals[D + "displayname"]] != [name, name]:
            bad("displayname twice: %r" % [p.text for p in vals[D + "displayname"]])
        if text(Z + "Win32FileAttributes") != ("00000011" if isdir else "00000001"):
            bad("Win32FileAttributes of %r: %r" % (path, text(Z + "Win32FileAttributes")))
    else:
        if nf:
            bad("allprop with a 404 propstat")
        rt = vals[D + "resourcetype"][0]
        if [c.tag for c in rt] != ([D + "collection"] if isdir else []):
            bad("resourcetype of %r" % path)
        want_lm = email.utils.formatdate(secs, usegmt=True)
        if text(D + "getlastmodified") != want_lm:
            bad("getlastmodified of %r: %r, want %r" % (path, text(D + "getlastmodified"), want_lm))
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text(D + "creationdate")):
            bad("creationdate of %r: %r" % (path, text(D + "creationdate")))
        ext = name.rsplit(".", 1)[1].lower() if "." in name else ""
        want_type = "httpd/unix-directory" if isdir else types.get(ext, "application/octet-stream")
        if text(D + "getcontenttype") != want_type:
            bad("getcontenttype of %r: %r, want %r" % (path, text(D + "getcontenttype"), want_type))
        if [c for c in vals[D + "supportedlock"][0]] or [c for c in vals[D + "lockdiscovery"][0]]:
            bad("locks of %r" % path)
    if text(D + "displayname") != name:
        bad("displayname of %r: %r" % (path, text(D + "displayname")))
    if text(D + "getcontentlength") != str(size):
        bad("getcontentlength of %r: %r, want %d" % (path, text(D + "getcontentlength"), size))
    if text(D + "getetag") != etag:
        bad("getetag of %r: %r, want %r" % (path, text(D + "getetag"), etag))
if seen != want:
    bad("entries: %d listed, %d expected; missing %r, extra %r"
        % (len(seen), len(want), sorted(want - seen)[:3], sorted(seen - want)[:3]))
print("checked %d responses, %d bytes" % (len(seen), len(body)))
PY
	ok "$what: $kind, Depth $depth, /$coll"
}

# round WHAT N FRAMING [measured]: a new generation of N entries, and every check.
GEN=0
round() {
	local what=$1 n=$2 framing=$3
	GEN=$((GEN + 1))
	rm -rf "$T/files/src"
	records "$n" "${4:-}"
	publish --generation "$GEN"
	"$DUMP" dump "$T/run/vfs.snapshot" >"$T/dump.jsonl" || fail "meta-fuse dump failed"
	if [ -z "${DAVD_PID:-}" ]; then
		start_davd
	else
		wait_for 15 grep -q "serving generation $GEN" "$T/davd.log" ||
			fail "davd did not serve generation $GEN"
	fi
	expect_eq "$(grep -c '"path":"/Other/' "$T/dump.jsonl")" "$n" "$what: $n entries placed under /Other"
	for kind in empty allprop prop; do
		check "$what" "$kind" 1 "$framing"
	done
	check "$what" propname 1 length # no size in it: its length is known
	check "$what" allprop 0 length
	check "$what" prop 0 length
	check "$what" allprop 1 length Movies
	check "$what" prop 1 length Movies
}

# big_responses FRAMING: 64 unknown properties, each in a namespace of 255
# '"' (1,530 bytes escaped): every response (~110 kB, from a 31 kB request) is
# larger than the block a reply is streamed from, so each is written aside and
# sent in pieces.
big_responses() {
	python3 - >"$T/big.xml" <<'PY'
ns = '"' * 255
props = "".join("<X:p%02d%s xmlns:X='%s'/>" % (i, "n" * 200, ns) for i in range(64))
print('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>%s</D:prop></D:propfind>' % props)
PY
	dav -X PROPFIND -H 'Depth: 1' --data-binary @"$T/big.xml" -D "$T/reply.h" -o "$T/reply.xml" \
		"$URL/Other/"
	python3 - "$T/reply.xml" "$T/reply.h" "$1" <<'PY' || fail "responses larger than the stream's block"
import re, sys, xml.etree.ElementTree as ET
body = open(sys.argv[1], "rb").read()
head = open(sys.argv[2], "rb").read().decode("latin-1").replace("\r", "")
m = re.search(r"^Content-Length: (\d+)$", head, re.M | re.I)
if sys.argv[3] == "length" and (not m or int(m.group(1)) != len(body)):
    sys.exit("Content-Length %s for %d bytes" % (m and m.group(1), len(body)))
rs = ET.fromstring(body).findall("{DAV:}response")
want = ["{%s}p%02d%s" % ('"' * 255, i, "n" * 200) for i in range(64)]
for r in rs:
    (ps,) = r.findall("{DAV:}propstat")
    if ps.find("{DAV:}status").text != "HTTP/1.1 404 Not Found":
        sys.exit("status " + ps.find("{DAV:}status").text)
    if [p.tag for p in ps.find("{DAV:}prop")] != want:
        sys.exit("the 64 properties are not all there, in order")
if len(rs) != 301:
    sys.exit("%d responses, 301 expected" % len(rs))
print("%d responses, %d bytes" % (len(rs), len(body)))
PY
	ok "responses larger than the stream's block, each sent in pieces ($1)"
}

davd_config
round "a small collection, generated whole" 15 length
round "a large collection, streamed with its size" 300 length
big_responses length
round "a large collection with sizes measured at the source, streamed chunked" 300 chunked measured
stop_davd
check_sanitizer
