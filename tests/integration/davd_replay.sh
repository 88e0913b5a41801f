#!/bin/bash
# davd_replay: the request sequences of the Windows mini-redirector (net use,
# Explorer browsing and copying a file out) and of macOS Finder (connect,
# browse, open a file), as described in Microsoft's [MS-WDV] and seen in
# public captures, replayed on one keep-alive connection each: every step
# gets the answer the client needs (OPTIONS before credentials, 401 then 207,
# Win32 properties, PROPPATCH 207, Translate: f, Finder's probes 404, quota
# properties 404 inside a 207, LOCK refused, ranged GETs).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"

serve_media
cat >"$T/replay.py" <<'PY'
# replay.py PORT CLIENT: sends CLIENT's sequence; prints "step status" per request,
# and fails on the first answer that is not the expected one.
import base64, http.client, sys, xml.etree.ElementTree as ET
port, client = int(sys.argv[1]), sys.argv[2]
AUTH = "Basic " + base64.b64encode(b"WORKGROUP\\metamesh:metamesh").decode()
F = "/webdav/Movies/Inception%20(2010)/Inception.mkv"
D = "/webdav/Movies/Inception%20(2010)/"
WIN_UA = "Microsoft-WebDAV-MiniRedir/10.0.19045"
MAC_UA = "WebDAVFS/3.0.0 (03008000) Darwin/22.1.0 (arm64)"
WIN_PROPS = ('<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop>'
             '<D:name/><D:parentname/><D:href/><D:ishidden/><D:isreadonly/><D:getcontenttype/>'
             '<D:contentclass/><D:getcontentlanguage/><D:creationdate/><D:lastaccessed/>'
             '<D:getlastmodified/><D:getcontentlength/><D:iscollection/><D:isstructureddocument/>'
             '<D:defaultdocument/><D:displayname/><D:isroot/><D:resourcetype/></D:prop></D:propfind>')
WIN32 = ('<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:" '
         'xmlns:Z="urn:schemas-microsoft-com:"><D:prop><D:creationdate/><D:getlastmodified/>'
         '<D:getcontentlength/><D:resourcetype/><Z:Win32CreationTime/><Z:Win32LastAccessTime/>'
         '<Z:Win32LastModifiedTime/><Z:Win32FileAttributes/></D:prop></D:propfind>')
PATCH = ('<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" '
         'xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>'
         '<Z:Win32CreationTime>Thu, 03 Dec 2026 08:00:00 GMT</Z:Win32CreationTime>'
         '<Z:Win32LastAccessTime>Thu, 03 Dec 2026 08:00:00 GMT</Z:Win32LastAccessTime>'
         '<Z:Win32LastModifiedTime>Thu, 03 Dec 2026 08:00:00 GMT</Z:Win32LastModifiedTime>'
         '<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>'
         '</D:prop></D:set></D:propertyupdate>')
MAC_PROPS = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
             '<D:getlastmodified/><D:getcontentlength/><D:creationdate/><D:resourcetype/>'
             '</D:prop></D:propfind>')
QUOTA = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
         '<D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>')
LOCK = ('<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope>'
        '<D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>'
        '<D:href>mac</D:href></D:owner></D:lockinfo>')

if client == "windows":
    steps = [
        ("OPTIONS", "/", None, {}, 200),
        ("OPTIONS", "/webdav", None, {}, 200),
        ("PROPFIND", "/webdav", "", {"Depth": "0"}, 401),
        ("PROPFIND", "/webdav", "", {"Depth": "0", "auth": 1}, 207),
        ("PROPFIND", "/webdav/Movies", WIN_PROPS, {"Depth": "1", "auth": 1}, 207),
        ("PROPFIND", "/webdav/desktop.ini", WIN_PROPS, {"Depth": "0", "auth": 1}, 404),
        ("PROPFIND", D, WIN32, {"Depth": "1", "auth": 1}, 207),
        ("PROPFIND", D + "Thumbs.db", WIN32, {"Depth": "0", "auth": 1}, 404),
        ("GET", F, None, {"Translate": "f", "auth": 1}, 200),
        ("GET", F, None, {"Translate": "f", "Range": "bytes=0-1023", "auth": 1}, 206),
        ("HEAD", F, None, {"auth": 1}, 200),
        ("PROPPATCH", F, PATCH, {"auth": 1}, 207),
        ("PUT", "/webdav/Movies/New%20Text%20Document.txt", "", {"auth": 1}, 405),
        ("MKCOL", "/webdav/Movies/New%20folder", None, {"auth": 1}, 405),
        ("DELETE", F, None, {"auth": 1}, 405),
        ("MOVE", F, None, {"auth": 1, "Destination": "http://x/webdav/a.mkv"}, 405),
    ]
    ua = WIN_UA
else:
    steps = [
        ("OPTIONS", "/webdav/", None, {}, 200),
        ("PROPFIND", "/webdav/", MAC_PROPS, {"Depth": "0"}, 401),
        ("PROPFIND", "/webdav/", MAC_PROPS, {"Depth": "0", "auth": 1}, 207),
        ("PROPFIND", "/webdav/", QUOTA, {"Depth": "0", "auth": 1}, 207),
        ("PROPFIND", "/webdav/._.", MAC_PROPS, {"Depth": "0", "auth": 1}, 404),
        ("PROPFIND", "/webdav/.DS_Store", MAC_PROPS, {"Depth": "0", "auth": 1}, 404),
        ("PROPFIND", "/webdav/.ql_disablethumbnails", MAC_PROPS, {"Depth": "0", "auth": 1}, 404),
        ("PROPFIND", "/webdav/.metadata_never_index", MAC_PROPS, {"Depth": "0", "auth": 1}, 404),
        ("PROPFIND", "/webdav/Backups.backupdb", MAC_PROPS, {"Depth": "0", "auth": 1}, 404),
        ("PROPFIND", "/webdav/Movies/", MAC_PROPS, {"Depth": "1", "auth": 1}, 207),
        ("PROPFIND", "/webdav/Movies/._Inception%20(2010)", MAC_PROPS, {"Depth": "0", "auth": 1}, 404),
        ("PROPFIND", D, MAC_PROPS, {"Depth": "1", "auth": 1}, 207),
        ("LOCK", F, LOCK, {"auth": 1, "Timeout": "Second-600", "Depth": "0"}, 405),
        ("GET", F, None, {"Range": "bytes=0-4095", "auth": 1}, 206),
        ("GET", F, None, {"Range": "bytes=4096-", "auth": 1}, 206),
        ("PUT", "/webdav/Movies/._x", "", {"auth": 1}, 405),
    ]
    ua = MAC_UA

conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for i, (method, path, body, hdrs, want) in enumerate(steps):
    h = {"User-Agent": ua}
    h.update({k: v for k, v in hdrs.items() if k != "auth"})
    if hdrs.get("auth"):
        h["Authorization"] = AUTH
    if body is not None:
        h["Content-Type"] = 'text/xml; charset="utf-8"'
    conn.request(method, path, body=body.encode() if body is not None else None, headers=h)
    r = conn.getresponse()
    data = r.read()
    if r.status != want:
        sys.exit("step %d: %s %s: expected %d, got %d" % (i, method, path, want, r.status))
    if r.status == 207:
        root = ET.fromstring(data)  # well-formed, or this raises
        if "QUOTA" in (body or "") or "quota" in (body or ""):
            codes = [s.text for s in root.iter("{DAV:}status")]
            if not all(" 404 " in c for c in codes):
                sys.exit("step %d: quota properties: expected 404 inside, got %s" % (i, codes))
        if "propertyupdate" in (body or ""):
            codes = [s.text for s in root.iter("{DAV:}status")]
            if codes != ["HTTP/1.1 403 Forbidden"]:
                sys.exit("step %d: PROPPATCH: expected 403 inside, got %s" % (i, codes))
            if len(list(root.iter("{urn:schemas-microsoft-com:}Win32FileAttributes"))) != 1:
                sys.exit("step %d: PROPPATCH: the properties are not named back" % i)
        if "Win32FileAttributes" in (body or "") and "propfind" in body:
            attrs = [a.text for a in root.iter("{urn:schemas-microsoft-com:}Win32FileAttributes")]
            if not attrs or any(a not in ("00000001", "00000011") for a in attrs):
                sys.exit("step %d: Win32FileAttributes: %s" % (i, attrs))
    if r.status == 405 and "OPTIONS" not in (r.getheader("Allow") or ""):
        sys.exit("step %d: 405 without Allow" % i)
    if method == "OPTIONS" and r.getheader("DAV") != "1":
        sys.exit("step %d: OPTIONS without DAV: 1" % i)
    if r.getheader("Connection", "").lower() == "close":
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    print("step %d %s %s %d" % (i, method, path, r.status))
print("all %d steps" % len(steps))
PY
for c in windows macos; do
	python3 "$T/replay.py" "$DAVD_PORT" "$c" >"$T/$c.out" 2>&1 || fail "$c: $(tail -n 1 "$T/$c.out")"
	expect_match "$(tail -n 1 "$T/$c.out")" '^all [0-9]+ steps$' "the $c sequence, every step answered as the client needs"
done
stop_davd
check_sanitizer
