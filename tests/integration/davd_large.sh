#!/bin/bash
# davd_large: a PROPFIND Depth 1 on a 50,000-entry collection is streamed
# (generated while the client reads, with the exact Content-Length worked out
# before the first byte) rather than built whole: the reply lists every entry
# once and is well-formed, and davd's peak memory grows by much less than the
# reply's size.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"

N=50000
davd_config
python3 - "$N" >"$T/records.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"hashId": "h%d" % i, "filePath": "m/f%d.mkv" % i, "size": 1000 + i,
                      "mtime": 1600000000 + i, "title": "Film Number %06d" % i, "year": 1950 + i % 70}))
PY
publish
start_davd
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$DAVD_PID/status"; }
before=$(hwm)
start=$(date +%s%N)
dav -X PROPFIND -H 'Depth: 1' -D "$T/h" -o "$T/big.xml" "$URL/Movies/"
ms=$((($(date +%s%N) - start) / 1000000))
after=$(hwm)
size=$(stat -c %s "$T/big.xml")
expect_match "$(tr -d '\r' <"$T/h")" '^HTTP/1.1 207' "PROPFIND Depth 1 on $N entries: 207"
expect_match "$(tr -d '\r' <"$T/h")" "^Content-Length: $(stat -c %s "$T/big.xml")\$" \
	"the streamed reply's Content-Length is its exact size"
well_formed "$T/big.xml" || fail "the streamed reply is not well-formed"
ok "the streamed reply is well-formed XML"
expect_eq "$(grep -o '<D:response>' "$T/big.xml" | wc -l)" $((N + 1)) "every entry once, plus the collection"
expect_eq "$(grep -o '<D:href>[^<]*</D:href>' "$T/big.xml" | sort -u | wc -l)" $((N + 1)) "no href twice"
[ -n "$before" ] && [ -n "$after" ] || fail "cannot read davd's VmHWM"
grow=$((after - before))
echo "note: $size bytes in $ms ms; davd's peak RSS grew by $grow kB (from $before kB)"
[ "$grow" -lt $((size / 1024 / 4)) ] || fail "peak RSS grew by $grow kB for a $((size / 1024)) kB reply: not streamed"
ok "peak memory grew by less than a quarter of the reply"
# A small collection still gets an exact Content-Length.
dav -X PROPFIND -H 'Depth: 1' -D "$T/h2" -o /dev/null "$URL/"
expect_match "$(tr -d '\r' <"$T/h2")" '^Content-Length: [0-9]+' "a small reply has a Content-Length"
stop_davd
check_sanitizer
