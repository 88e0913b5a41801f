# Helpers of the davd scenarios (tests/integration/davd_*.sh), sourced after
# lib.sh.  Not a scenario itself: it is not registered with CTest.
#
#   davd_config [KEY=VALUE...]  write $T/davd.conf (private dirs, a free port)
#   make_media                  source files under $T/files and their records in
#                               $T/records.jsonl; titles with awkward names
#                               (UTF-8, spaces, & % # ? +, quotes, <>)
#   publish [ARGS...]           mf-mksnapshot of $T/records.jsonl into $T/run
#   start_davd [ARGS...]        meta-fuse-davd on $DAVD_PORT; waits until it serves
#   serve_media [KEY=VALUE...]  davd_config, make_media, publish, start_davd
#   stop_davd                   SIGTERM, wait, check the exit status
#   dav ARGS...                 curl with the credentials
#   status ARGS...              the HTTP status of such a request
#   well_formed FILE            the XML in FILE parses, namespaces included
#   check_sanitizer             fail on an ASan/UBSan report in a davd log
#   davd_metrics                davd.metrics as lines "server route 1xx 2xx 3xx 4xx 5xx"
#   davd_requests ROUTE         how many requests davd.metrics counts for ROUTE

need curl python3
MKSNAP="$MF_BUILD_DIR/tests/mf-mksnapshot"
[ -x "$MKSNAP" ] || skip "mf-mksnapshot is not built"
[ -x "$BIN/meta-fuse-davd" ] || skip "meta-fuse-davd is not built"

mkdir -p "$T/run" "$T/files"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}"
DAVD_PORT=$(free_port)
DAV_USER=metamesh
DAV_PASS=metamesh
URL="http://127.0.0.1:$DAVD_PORT/webdav"

# davd_config [username=...] [password=...] [source_webdav_url=...] [extra=libconfig lines]
davd_config() {
	local user=$DAV_USER pass=$DAV_PASS webdav="" extra=""
	for kv in "$@"; do
		case "$kv" in
		username=*) user=${kv#*=} ;;
		password=*) pass=${kv#*=} ;;
		source_webdav_url=*) webdav=${kv#*=} ;;
		extra=*) extra=${kv#*=} ;;
		*) fail "davd_config: unknown key $kv" ;;
		esac
	done
	cat >"$T/davd.conf" <<EOF
runtime_dir = "$T/run";
files_volume = "$T/files";
source_webdav_url = "$webdav";
uid = 0;
gid = 0;
kv = { redis_url = "redis://127.0.0.1:1"; };
webdav = {
	listen = "127.0.0.1:$DAVD_PORT";
	username = "$user";
	password = "$pass";
	$extra
};
EOF
}

# media FILE-PATH SIZE HASH JSON-FIELDS: one source file and its record.
media() {
	local rel=$1 size=$2 id=$3 fields=$4
	mkdir -p "$T/files/$(dirname "$rel")"
	head -c "$size" /dev/urandom >"$T/files/$rel"
	touch -d "@$((1600000000 + size))" "$T/files/$rel"
	python3 - "$rel" "$id" "$fields" "$T/files" >>"$T/records.jsonl" <<'EOF'
import json, os, sys
rel, hid, fields, root = sys.argv[1:5]
st = os.stat(os.path.join(root, rel))
d = {"hashId": hid, "filePath": rel, "size": st.st_size, "mtime": int(st.st_mtime)}
d.update(json.loads("{" + fields + "}"))
print(json.dumps(d, ensure_ascii=False))
EOF
}

make_media() {
	: >"$T/records.jsonl"
	media "m/inception.mkv" 5000 m1 '"title": "Inception", "year": 2010'
	media "m/amelie.mkv" 7000 m2 '"title": "Le Fabuleux Destin d’Amélie Poulain", "year": 2001'
	media "m/weird name.mp4" 3000 m3 '"title": "Tom & Jerry 100% #1? + more", "year": 1999'
	media "m/quote.avi" 1000 m4 '"title": "Say \"Hi\" <now>", "year": 2005'
	media "m/kanji.mkv" 2000 m5 '"title": "千と千尋の神隠し", "year": 2001'
	media "m/inception.srt" 300 s1 '"title": "Inception", "year": 2010'
	media "m/big.mkv" $((4 * 1024 * 1024 + 333)) big '"title": "Big One", "year": 2020'
}

publish() {
	"$MKSNAP" -c "$T/davd.conf" "$@" <"$T/records.jsonl" >>"$T/mksnapshot.log" 2>&1 ||
		fail "mf-mksnapshot failed: $(tail -n 3 "$T/mksnapshot.log")"
}

# start_davd [ARGS...]: sets DAVD_PID.
start_davd() {
	[ -f "$T/davd.log" ] && cat "$T/davd.log" >>"$T/davd-earlier.log"
	rm -f "$T/davd.log"
	start_bg davd "$BIN/meta-fuse-davd" -c "$T/davd.conf" -v "$@"
	DAVD_PID=$LAST_PID
	wait_for 15 grep -q 'serving "' "$T/davd.log" || fail "davd did not start"
}

serve_media() {
	davd_config "$@"
	make_media
	publish
	start_davd
}

stop_davd() {
	local rc
	kill -TERM "$DAVD_PID"
	wait "$DAVD_PID"
	rc=$?
	expect_eq "$rc" 0 "davd exits 0 on SIGTERM"
}

dav() {
	curl -s -u "$DAV_USER:$DAV_PASS" "$@"
}

status() {
	dav -o /dev/null -w '%{http_code}' "$@"
}

well_formed() {
	python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$1"
}

check_sanitizer() {
	if grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T"/davd*.log 2>/dev/null; then
		fail "sanitizer report in the logs above"
	fi
	ok "no sanitizer report"
}

davd_metrics() {
	python3 - "$T/run/metrics/davd.metrics" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"MFHTTPM\n", d[:8]
version, count = struct.unpack_from("<II", d, 8)
server = d[40:72].split(b"\0")[0].decode()
off = 136
for i in range(count):
    name = d[off:off + 32].split(b"\0")[0].decode()
    resp = struct.unpack_from("<5Q", d, off + 32)
    print(server, name, " ".join(map(str, resp)))
    off += 32 + 8 * (5 + 2 + 12)
PY
}

davd_requests() {
	davd_metrics | awk -v r="$1" '$2 == r { print $3 + $4 + $5 + $6 + $7 }'
}

# multistatus FILE: one line per <response>: href (percent-decoded), then each
# property as status:{ns}name=text, tab-separated.
multistatus() {
	python3 - "$1" <<'EOF'
import sys, urllib.parse, xml.etree.ElementTree as ET
D = "{DAV:}"
for r in ET.parse(sys.argv[1]).getroot().findall(D + "response"):
    out = [urllib.parse.unquote(r.find(D + "href").text, errors="strict")]
    for ps in r.findall(D + "propstat"):
        code = ps.find(D + "status").text.split()[1]
        for p in ps.find(D + "prop"):
            text = (p.text or "") + "".join(ET.tostring(c, encoding="unicode") for c in p)
            out.append("%s:%s=%s" % (code, p.tag, text))
    print("\t".join(out))
EOF
}
