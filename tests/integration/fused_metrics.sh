#!/usr/bin/env bash
# fused_metrics: fused's operation counts on apid's /metrics.  fused keeps them
# in runtime_dir/metrics/fused.metrics; apid, on the same runtime directory,
# exports them as mf_fuse_operations_total{op,result} and the histogram
# mf_fuse_operation_duration_seconds, checked by promtool.  Files read, names
# that do not exist and attributes that are not there through a real mount make
# exactly the counts rise that they should; when fused stops, its file goes and
# /metrics says the counts are not available.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"
need curl promtool
[ -x "$BIN/meta-fuse-apid" ] || skip "meta-fuse-apid is not built"
need getfattr

fused_config attr_ttl_ms=600000 dir_ttl_ms=600000
API_PORT=$(free_port)
URL="http://127.0.0.1:$API_PORT"
echo "api = { listen = \"127.0.0.1:$API_PORT\"; };" >>"$T/fused.conf"
make_library 3 2
publish --generation 1
start_fused --check-interval 0
[ -f "$T/run/metrics/fused.metrics" ] || fail "no runtime_dir/metrics/fused.metrics"
ok "fused keeps its counters in runtime_dir/metrics/fused.metrics"

start_bg apid "$BIN/meta-fuse-apid" -c "$T/fused.conf" -v
APID_PID=$LAST_PID
wait_for 10 curl -sf -o /dev/null "$URL/metrics" || fail "apid did not answer: $(cat "$T/apid.log")"

scrape() { # scrape FILE: /metrics into FILE, checked by promtool
	curl -sf "$URL/metrics" >"$1" || fail "GET /metrics failed"
	promtool check metrics <"$1" >"$T/promtool.log" 2>&1 ||
		fail "promtool check metrics: $(cat "$T/promtool.log")"
}
# count FILE OP RESULT: the value of mf_fuse_operations_total{op,result} in FILE.
count() {
	awk -v want="mf_fuse_operations_total{op=\"$2\",result=\"$3\"}" \
		'$1 == want { print $2 }' "$1"
}
hist() { # hist FILE SERIES OP: a histogram series' value for the op
	awk -v want="mf_fuse_operation_duration_seconds_$2{op=\"$3\"}" \
		'$1 == want { print $2 }' "$1"
}

scrape "$T/m0.txt"
ok "promtool check metrics with fused's counts"
expect_eq "$(awk '$1 == "mf_fuse_metrics_available" { print $2 }' "$T/m0.txt")" 1 \
	"mf_fuse_metrics_available"
for op in lookup getattr open read release readdirplus statfs getxattr mkdir write; do
	[ -n "$(count "$T/m0.txt" $op ok)" ] || fail "no mf_fuse_operations_total for $op"
done
ok "every operation has its counters"

# Traffic: three files read whole, a listing, a missing name, a missing attribute.
M1="$MNT/Movies/Movie Ünïcode 1 (1991)/Movie Ünïcode 1.mkv"
BIG="$MNT/Movies/Big One (2020)/Big One.mkv"
OTHER="$MNT/Other/leftover.bin"
cmp -s "$M1" "$T/files/media1/Movies/movie 1/Movie.1.mkv" || fail "movie 1 differs"
cmp -s "$BIG" "$T/files/media2/big.mkv" || fail "big.mkv differs"
cmp -s "$OTHER" "$T/files/media2/leftover.bin" || fail "leftover.bin differs"
ls -lR "$MNT" >/dev/null
stat "$MNT/Movies/no such film.mkv" >/dev/null 2>&1 && fail "a missing name exists"
getfattr -n user.meta.nosuch "$M1" >/dev/null 2>&1 && fail "a missing attribute exists"
df "$MNT" >/dev/null

# release comes after close(2) returns: wait until the three are counted.
released() {
	curl -sf "$URL/metrics" >"$T/m1.txt"
	[ "$(($(count "$T/m1.txt" release ok) - $(count "$T/m0.txt" release ok)))" -ge 3 ]
}
wait_for 10 released || fail "the releases of the three reads are not counted"
scrape "$T/m1.txt"
delta() { echo $(($(count "$T/m1.txt" "$1" "$2") - $(count "$T/m0.txt" "$1" "$2"))); }
expect_eq "$(delta open ok)" 3 "three opens counted"
expect_eq "$(delta release ok)" 3 "three releases counted"
expect_eq "$(delta open error)" 0 "no open failed"
# big.mkv alone is 3 MiB: more than one read request of at most 1 MiB.
reads=$(delta read ok)
[ "$reads" -ge 5 ] || fail "reads counted: expected at least 5, got $reads"
ok "the read requests counted ($reads)"
expect_eq "$(delta read error)" 0 "no read failed"
expect_eq "$(delta lookup error)" 1 "the missing name is one failed lookup"
[ "$(delta lookup ok)" -ge 1 ] || fail "lookups: expected some, got $(delta lookup ok)"
ok "lookups of existing names counted as ok"
[ "$(delta getxattr error)" -ge 1 ] || fail "getxattr of a missing attribute: expected an error"
ok "the missing attribute is a failed getxattr"
[ "$(delta readdirplus ok)" -ge 1 ] || fail "listings: expected readdirplus requests"
ok "listings counted"
[ "$(delta statfs ok)" -ge 1 ] || fail "df: expected a statfs"
ok "statfs counted"
n=$(hist "$T/m1.txt" count read)
expect_eq "$n" "$(($(count "$T/m1.txt" read ok) + $(count "$T/m1.txt" read error)))" \
	"the read histogram counts every read"
expect_eq "$(awk -v w='mf_fuse_operation_duration_seconds_bucket{op="read",le="+Inf"}' \
	'$1 == w { print $2 }' "$T/m1.txt")" "$n" "its +Inf bucket holds them all"

stop_fused
[ ! -e "$T/run/metrics/fused.metrics" ] || fail "fused.metrics left behind"
ok "fused removes its counters file when it stops"
scrape "$T/m2.txt"
expect_eq "$(awk '$1 == "mf_fuse_metrics_available" { print $2 }' "$T/m2.txt")" 0 \
	"without fused, mf_fuse_metrics_available is 0"
expect_eq "$(grep -c '^mf_fuse_operations_total' "$T/m2.txt")" 0 "and no counts are shown"

kill -TERM "$APID_PID"
rc=0
wait "$APID_PID" || rc=$?
expect_eq "$rc" 0 "apid exits 0 on SIGTERM"
grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error" "$T/apid.log" &&
	fail "sanitizer report in apid's log"
check_sanitizer
