# Helpers of the apid_* scenarios; sourced after lib.sh (not a scenario).
#
# apid_setup loads a small library into a private redis-server (the spec's
# Inception example, a TV episode, a hidden sample, a record without filePath,
# an untitled file), publishes it with `kvwatch --once`, writes the source of
# Inception under a private files volume and starts meta-fuse-apid on a free
# port.  req sends one request with curl and leaves the status in $ST and the
# body in $T/body; jb reads a field of that body with jq; call sends one and
# checks its status, fields checks fields of the body.

need curl jq redis-server redis-cli
APID="$BIN/meta-fuse-apid"
KVW="$BIN/meta-fuse-kvwatch"
RUN="$T/run"
VOL="$T/files"
mkdir -p "$RUN" "$VOL"
[ -x "$APID" ] || skip "$APID is not built"
[ -x "$KVW" ] || skip "$KVW is not built"
unset REDIS_URL REDIS_PREFIX META_CORE_PATH VFS_REFRESH_INTERVAL META_FUSE_RUNTIME_DIR \
	META_FUSE_CONFIG NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES API_HOST API_PORT \
	API_USERNAME API_PASSWORD API_CORS_ORIGINS FILES_VOLUME

INCEPTION="/Movies/Inception (2010)/Inception.mkv"
INCEPTION_BYTES="0123456789abcdefghij"

# apid_conf [EXTRA-API-SETTINGS] [MORE-TOP-LEVEL-SETTINGS]: write $T/apid.conf (or
# $APID_CONF), with $APID_KV as the kv settings when set (else the private redis).
apid_conf() {
	local kv=${APID_KV:-"redis_url = \"redis://127.0.0.1:$REDIS_PORT\";"}
	API_PORT=$(free_port)
	URL="http://127.0.0.1:$API_PORT"
	cat >"${APID_CONF:-$T/apid.conf}" <<EOC
runtime_dir = "$RUN";
files_volume = "$VOL";
uid = 0;
gid = 0;
fuse = { mount_point = "$T/mnt"; };
kv = { $kv connect_timeout_ms = 1000; };
api = { listen = "127.0.0.1:$API_PORT"; ${1:-} };
${2:-}
EOC
}

apid_load_library() {
	rcli mset meta-sort:file:inception:filePath "media1/Movies/Inception (2010)/Inception.mkv" \
		meta-sort:file:inception:title Inception meta-sort:file:inception:year 2010 \
		meta-sort:file:inception:size ${#INCEPTION_BYTES} \
		meta-sort:file:inception:mtime 1600000000000 \
		meta-sort:file:ep1:filePath "media1/tv/show.s01e02.mkv" meta-sort:file:ep1:title Show \
		meta-sort:file:ep1:season 1 meta-sort:file:ep1:episode 2 meta-sort:file:ep1:size 2000 \
		meta-sort:file:sample:filePath "media1/x/sample.mkv" \
		meta-sort:file:nopath:title "No Path" \
		meta-sort:file:loose:filePath "media9/loose/clip.mkv" meta-sort:file:loose:size 7 \
		>/dev/null
	mkdir -p "$VOL/media1/Movies/Inception (2010)"
	printf '%s' "$INCEPTION_BYTES" >"$VOL/media1/Movies/Inception (2010)/Inception.mkv"
}

# kvwatch --once with $T/apid.conf: publish (the next generation of) the library.
apid_publish() {
	"$KVW" -c "$T/apid.conf" --once 2>"$T/kvwatch-once.log" ||
		fail "kvwatch --once failed: $(cat "$T/kvwatch-once.log")"
}

apid_start() {
	start_bg apid "$APID" -c "$T/apid.conf" -v
	APID_PID=$LAST_PID
	wait_for 10 curl -sf -o /dev/null "$URL/api/fuse/stats" ||
		fail "meta-fuse-apid did not answer; log: $(cat "$T/apid.log")"
}

apid_setup() {
	start_redis
	apid_load_library
	apid_conf "$@"
	apid_publish
	apid_start
}

# req METHOD PATH [BODY [CONTENT-TYPE]] [-- CURL-ARGS...]: $ST, $T/body, $T/headers.
req() {
	local m=$1 p=$2 body=${3-} ct=${4-application/json}
	local args=(-s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$m")
	shift $(($# < 4 ? $# : 4))
	[ "${1-}" = "--" ] && shift
	if [ -n "$body" ]; then
		args+=(-H "Content-Type: $ct" --data-binary "$body")
	fi
	ST=$(curl "${args[@]}" "$@" "$URL$p") || true
}

# jb [JQ-OPTIONS] JQ: a field of the last body.
jb() {
	jq -r "$@" <"$T/body"
}

# header NAME: a header of the last response (value only).
header() {
	tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip" | head -n1
}

# expect_status STATUS WHAT: and, for errors, an {"error": "..."} body.
expect_status() {
	if [ "$ST" != "$1" ]; then
		fail "$2: expected status $1, got $ST ($(head -c 300 "$T/body"))"
	fi
	if [ "$1" -ge 400 ] && ! jq -e '.error | type == "string" and length > 0' <"$T/body" \
		>/dev/null 2>&1; then
		fail "$2: expected an {\"error\": ...} body, got $(head -c 300 "$T/body")"
	fi
	ok "$2"
}

# call STATUS WHAT METHOD PATH [BODY [CONTENT-TYPE]]: one request (req) and its
# status (expect_status: an error status with an {"error": ...} body).
call() {
	local status=$1 what=$2
	shift 2
	req "$@"
	expect_status "$status" "$what"
}

# fields WHAT JQ WANT [JQ WANT]...: fields of the last body (objects compact,
# strings raw), each checked as "WHAT: JQ".
fields() {
	local what=$1
	shift
	while [ $# -ge 2 ]; do
		expect_eq "$(jb -c "$1")" "$2" "$what: $1"
		shift 2
	done
}
