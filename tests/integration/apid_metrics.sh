#!/usr/bin/env bash
# apid: /metrics in the Prometheus text format, checked by promtool; a new
# snapshot served after SIGHUP; the supervisor's status.json on
# /api/fuse/workers and in the metrics; Basic auth and CORS when configured;
# exit 0 on SIGTERM with nothing leaked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apid_lib.sh"
need promtool

apid_setup

# Some traffic for the request counters.
for _ in 1 2 3; do req GET /api/fuse/stats; done
req POST /api/fuse/getattr "{\"path\": \"$INCEPTION\"}"
req POST /api/fuse/getattr '{"path": "/nope"}'

# A request is counted once its answer is sent: wait until the last one is.
counted() {
	curl -s "$URL/metrics" |
		grep -q '^mf_http_responses_total{server="apid",route="/api/fuse/getattr",code="4xx"} 1$'
}
wait_for 10 counted || fail "the 404 of getattr is not counted"
req GET /metrics
expect_eq "$ST" 200 "GET /metrics"
expect_match "$(header Content-Type)" '^text/plain; version=0\.0\.4' "metrics: content type"
cp "$T/body" "$T/metrics.txt"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.log" 2>&1 ||
	fail "promtool check metrics: $(cat "$T/promtool.log")"
ok "promtool check metrics"
metric() {
	grep -E "^$1 " "$T/metrics.txt" | awk '{print $NF}'
}
expect_eq "$(metric mf_files)" 3 "mf_files"
expect_eq "$(metric mf_directories)" 7 "mf_directories"
expect_eq "$(metric mf_generation)" 1 "mf_generation"
# kvwatch --once serves no shared copy: apid reads the file (snapshot_share.sh has 1).
expect_eq "$(metric mf_snapshot_shared)" 0 "mf_snapshot_shared: a private copy"
expect_eq "$(metric mf_kv_connected)" 1 "mf_kv_connected"
expect_eq "$(metric 'mf_category_files\{category="Movies"\}')" 1 "per-category files"
expect_eq "$(metric 'mf_skipped_records_by_reason\{reason="no filePath"\}')" 1 "skipped per reason"
expect_eq "$(metric 'mf_rule_hidden_records\{rule="hide-samples"\}')" 1 "hidden per rule"
expect_eq "$(metric mf_supervisor_status_available)" 0 "no status.json yet"
expect_match "$(grep -c '^mf_http_request_duration_seconds_bucket{server="apid",route="/api/fuse/stats"' "$T/metrics.txt")" '^[1-9]' \
	"latency histogram of /api/fuse/stats"
expect_eq "$(metric 'mf_http_responses_total\{server="apid",route="/api/fuse/getattr",code="4xx"\}')" 1 \
	"a 404 counted on getattr"

# ---- davd's request counters, from its runtime_dir/metrics/davd.metrics ----
if [ -x "$BIN/meta-fuse-davd" ]; then
	DAV_PORT=$(free_port)
	sed "s|^api = {|webdav = { listen = \"127.0.0.1:$DAV_PORT\"; };\napi = {|" "$T/apid.conf" \
		>"$T/davd.conf"
	start_bg davd "$BIN/meta-fuse-davd" -c "$T/davd.conf" -v
	DAVD_PID=$LAST_PID
	wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$DAV_PORT/" ||
		fail "meta-fuse-davd did not answer: $(cat "$T/davd.log")"
	for _ in 1 2; do
		curl -s -o /dev/null -u metamesh:metamesh -X PROPFIND -H "Depth: 1" \
			"http://127.0.0.1:$DAV_PORT/webdav/"
	done
	davd_counted() {
		curl -s "$URL/metrics" >"$T/metrics.txt"
		grep -qE '^mf_http_responses_total\{server="davd",route="PROPFIND",code="2xx"\} 2$' \
			"$T/metrics.txt"
	}
	wait_for 10 davd_counted ||
		fail "davd's PROPFIND counted: $(grep 'server="davd"' "$T/metrics.txt" | head -n 5)"
	promtool check metrics <"$T/metrics.txt" >"$T/promtool.log" 2>&1 ||
		fail "promtool check metrics with davd: $(cat "$T/promtool.log")"
	ok "davd's requests on apid's /metrics"
	kill -TERM "$DAVD_PID"
	wait "$DAVD_PID"
else
	echo "(davd not built: its counters not checked)"
fi

# ---- a new generation on SIGHUP ----
rcli mset meta-sort:file:heat:filePath "media1/Movies/Heat.mkv" meta-sort:file:heat:title Heat \
	meta-sort:file:heat:year 1995 meta-sort:file:heat:size 100 >/dev/null
apid_publish
kill -HUP "$APID_PID"
gen_is_2() {
	req GET /api/fuse/stats
	[ "$(jb .generation)" = 2 ]
}
wait_for 10 gen_is_2 || fail "generation 2 not served after SIGHUP: $(cat "$T/body")"
ok "generation 2 served after SIGHUP"
expect_eq "$(jb .totalFiles)" 4 "the new file counted"
req POST /api/fuse/exists '{"path": "/Movies/Heat (1995)/Heat.mkv"}'
expect_eq "$(jb .exists)" true "the new file is found"

# ---- the supervisor's status.json ----
now_ms=$(($(date +%s) * 1000))
cat >"$RUN/.status.json.tmp" <<EOS
{"pid": 1, "state": "running", "generation": 2, "workers": [
 {"name": "kvwatch", "state": "running", "pid": 101, "since": $now_ms, "restarts": 0},
 {"name": "fused", "state": "running", "pid": 102, "since": $now_ms, "restarts": 2},
 {"name": "davd", "state": "backoff", "pid": 0, "since": $now_ms, "restarts": 5,
  "lastExit": "exit 75"}]}
EOS
mv "$RUN/.status.json.tmp" "$RUN/status.json"
req GET /api/fuse/workers
expect_status 200 "workers with a status.json"
expect_eq "$(jb '.workers | length')" 3 "workers: every worker"
expect_eq "$(jb '.workers[1].restarts')" 2 "workers: restarts"
expect_eq "$(jb '.workers[2].lastExit')" "exit 75" "workers: last exit"
req GET /metrics
cp "$T/body" "$T/metrics.txt"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.log" 2>&1 ||
	fail "promtool check metrics with workers: $(cat "$T/promtool.log")"
ok "promtool check metrics with workers"
expect_eq "$(metric mf_supervisor_status_available)" 1 "status.json read"
expect_eq "$(metric 'mf_worker_up\{worker="fused"\}')" 1 "fused up"
expect_eq "$(metric 'mf_worker_up\{worker="davd"\}')" 0 "davd down"
expect_eq "$(metric 'mf_worker_restarts_total\{worker="davd"\}')" 5 "davd restarts"
echo '{"workers": [' >"$RUN/status.json"
req GET /api/fuse/workers
expect_status 503 "workers with a broken status.json"

# ---- SIGTERM: exit 0, nothing leaked ----
stop_apid() {
	kill -TERM "$APID_PID"
	local rc=0
	wait "$APID_PID" || rc=$?
	expect_eq "$rc" 0 "apid exits 0 on SIGTERM"
	if grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error" "$T/apid.log"; then
		fail "sanitizer report in apid's log"
	fi
	ok "no sanitizer report"
}
stop_apid
[ ! -e "$RUN/metrics/apid.metrics" ] || fail "apid.metrics left behind"
ok "apid.metrics removed"

# ---- Basic auth and CORS ----
apid_conf 'username = "api"; password = "s3cret"; cors_origins = "http://dash.example";'
apid_start_auth() {
	start_bg apid "$APID" -c "$T/apid.conf" -v
	APID_PID=$LAST_PID
	wait_for 10 curl -s -o /dev/null "$URL/health" || fail "apid did not start with auth"
}
apid_start_auth
req GET /api/fuse/stats
expect_eq "$ST" 401 "no credentials: 401"
expect_match "$(header WWW-Authenticate)" '^Basic realm=' "401: WWW-Authenticate"
req GET /api/fuse/stats "" "" -- -u api:wrong
expect_eq "$ST" 401 "wrong password: 401"
req GET /api/fuse/stats "" "" -- -u api:s3cret
expect_status 200 "right password: 200"
req GET /health "" "" -- -u api:s3cret -H "Origin: http://dash.example"
expect_eq "$(header Access-Control-Allow-Origin)" "http://dash.example" "CORS: a listed origin"
req GET /health "" "" -- -u api:s3cret -H "Origin: http://evil.example"
expect_eq "$(header Access-Control-Allow-Origin)" "" "CORS: an unlisted origin gets nothing"
req OPTIONS /api/fuse/getattr "" "" -- -H "Origin: http://dash.example" \
	-H "Access-Control-Request-Method: POST"
expect_eq "$ST" 204 "CORS preflight without credentials"
expect_match "$(header Access-Control-Allow-Methods)" POST "preflight: allowed methods"
stop_apid
