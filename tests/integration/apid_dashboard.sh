#!/usr/bin/env bash
# apid: the dashboard in headless Chromium (Debian's chromium): the page shows
# the figures the API reports, a search finds a known file, a file's metadata
# comes from the store (and from the snapshot, said so, once the store is
# gone), the workers of the supervisor's status.json are listed, the console
# stays free of messages, and screenshots (desktop and phone width) are kept in
# $MF_BUILD_DIR/artifacts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apid_lib.sh"
command -v chromium >/dev/null 2>&1 || skip "chromium is not installed (apt-get install chromium)"

apid_setup
now_ms=$(($(date +%s) * 1000 - 3600 * 1000))
cat >"$RUN/status.json" <<EOS
{"pid": 1, "state": "running", "generation": 1, "workers": [
 {"name": "kvwatch", "state": "running", "pid": 101, "since": $now_ms, "restarts": 0},
 {"name": "fused", "state": "running", "pid": 102, "since": $now_ms, "restarts": 1},
 {"name": "davd", "state": "running", "pid": 103, "since": $now_ms, "restarts": 0},
 {"name": "apid", "state": "running", "pid": $APID_PID, "since": $now_ms, "restarts": 0}]}
EOS
ART="$MF_BUILD_DIR/artifacts"
mkdir -p "$ART"

# browse URL OUT [ARGS...]: load URL, let its scripts run, write the DOM to OUT.
browse() {
	local url=$1 out=$2
	shift 2
	timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
		--disable-component-update --disable-sync --no-first-run \
		--user-data-dir="$(mktemp -d "$T/chromium.XXXXXX")" --enable-logging=stderr --v=0 \
		--virtual-time-budget=8000 "$@" "$url" >"$out" 2>>"$T/chromium.log" ||
		fail "chromium failed on $url: $(grep -v dbus "$T/chromium.log" | tail -n 5)"
}

browse "$URL/#search=Inception" "$T/dom.html" --dump-dom
# text ID: the text of the element with that id in the dumped DOM.
text() {
	grep -o "id=\"$1\"[^>]*>[^<]*" "$T/dom.html" | head -n1 | sed 's/.*>//'
}
req GET /api/fuse/stats
expect_eq "$(text files)" "$(jb .totalFiles)" "dashboard: files as the API reports"
expect_eq "$(text directories)" "$(jb .totalDirectories)" "dashboard: directories"
expect_eq "$(text generation)" "$(jb .generation)" "dashboard: generation"
expect_eq "$(text kv)" "$(jb .kvConnection)" "dashboard: KV connection"
expect_eq "$(text fuse)" "$(jb .fuseMount)" "dashboard: FUSE mount"
expect_eq "$(text health)" healthy "dashboard: health"
expect_eq "$(text size)" "1.98 KiB" "dashboard: total size (2027 bytes)"
grep -q '<div>Movies</div>' "$T/dom.html" || fail "dashboard: no Movies bar in the chart"
ok "dashboard: the category chart"
grep -q '<td>fused</td><td>running</td><td>102</td><td>1 h 0 min</td><td>1</td>' "$T/dom.html" ||
	fail "dashboard: fused's row of the workers table: $(grep -o '<table id="workers".*</table>' "$T/dom.html" | head -c 600)"
ok "dashboard: workers with state, pid, uptime and restarts"
grep -q '<td>no filePath</td><td>1</td><td>nopath</td>' "$T/dom.html" ||
	fail "dashboard: the skipped record's reason"
ok "dashboard: skipped records with reasons"
grep -q "<span>$INCEPTION</span>" "$T/dom.html" ||
	fail "dashboard: the search did not find $INCEPTION"
ok "dashboard: the search finds a known file"

# A file's metadata, from the store: a property no rule uses is there.
rcli set meta-sort:file:inception:plot "A thief who steals secrets" >/dev/null
browse "$URL/#file=$(jq -rn --arg p "$INCEPTION" '$p | @uri')" "$T/file.html" --dump-dom
grep -q '<dt>plot</dt><dd>A thief who steals secrets</dd>' "$T/file.html" ||
	fail "dashboard: the file's metadata: $(grep -o '<div id="detail".\{0,600\}' "$T/file.html")"
ok "dashboard: a file's metadata from the store"

browse "$URL/#rules" "$T/rules.html" --dump-dom
grep -q '<td>movies</td><td>400</td>' "$T/rules.html" || fail "rules page: the movies rule"
ok "dashboard: the rules page lists the rules in force"

browse "$URL/#rules-try" "$T/try.html" --dump-dom
grep -q '<div>→ /Films/Heat (1995)/heat.mkv</div>' "$T/try.html" ||
	fail "rules page: the validated rule's path: $(grep -o '<div id="validate-out".\{0,300\}' "$T/try.html")"
ok "dashboard: validate shows the rendered path"
grep -q '<div>3 files: 3 stay, 0 move, 0 leave the tree' "$T/try.html" ||
	fail "rules page: the preview's summary: $(grep -o '<div id="preview-out".\{0,400\}' "$T/try.html")"
grep -q '<tr><td>movies</td><td>1</td><td>0</td></tr>' "$T/try.html" ||
	fail "rules page: the preview's per-rule counts"
ok "dashboard: preview of the rules in force (pre-filled) moves nothing"

browse "$URL/#search=Inception" /dev/null --window-size=1280,1500 \
	--screenshot="$ART/apid_dashboard.png" --hide-scrollbars
browse "$URL/#search=Inception" /dev/null --window-size=390,1600 \
	--screenshot="$ART/apid_dashboard_phone.png" --hide-scrollbars
browse "$URL/#rules-try" /dev/null --window-size=1280,2200 \
	--screenshot="$ART/apid_dashboard_rules.png" --hide-scrollbars
for f in apid_dashboard.png apid_dashboard_phone.png apid_dashboard_rules.png; do
	[ -s "$ART/$f" ] || fail "no screenshot $f"
done
ok "screenshots kept in $ART"

if grep ':CONSOLE' "$T/chromium.log"; then
	fail "the page wrote to the console (above)"
fi
ok "no console messages"

# The store gone: the page shows what the snapshot carries, and says so.
# (After the console check: Chromium logs the 503 it gets first.)
rcli shutdown nosave >/dev/null 2>&1 || true
browse "$URL/#file=$(jq -rn --arg p "$INCEPTION" '$p | @uri')" "$T/nostore.html" --dump-dom
grep -q 'showing the properties the snapshot carries' "$T/nostore.html" ||
	fail "dashboard without the store: no note: $(grep -o '<div id="detail".\{0,600\}' "$T/nostore.html")"
grep -q '<dt>title</dt><dd>Inception</dd>' "$T/nostore.html" ||
	fail "dashboard without the store: the snapshot's title"
grep -q '<dt>plot</dt>' "$T/nostore.html" && fail "dashboard without the store: plot from nowhere"
ok "dashboard: without the store, a file's metadata from the snapshot, said so"
