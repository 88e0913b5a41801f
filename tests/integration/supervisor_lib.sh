# Helpers of the supervisor_* scenarios, sourced after lib.sh (not a scenario).
#
# Everything is real: a private redis-server, `meta-fuse run` as root with the
# workers dropped to the numeric users 61000 (kvwatch, the writer) and 61001
# (the readers), a real FUSE mount.
#
#   sv_library           a few media files under $T/files and their keys in Redis
#   sv_config [LINES]    write $T/mf.conf (extra top-level LINES appended)
#   start_sv [ARGS]      meta-fuse run in the background; waits for "running"
#   sv_status            `meta-fuse status --json`
#   wpid NAME            a worker's pid (0 when none)
#   wfield NAME FIELD    a field of a worker's status
#   wait_state NAME STATE [SECONDS]
#   stop_sv              SIGTERM; checks exit 0, no mount, no process left
#   check_sanitizer      fail on an ASan/UBSan report in the logs

need_root_fuse
need jq redis-server redis-cli setpriv
MF="$BIN/meta-fuse"
for b in meta-fuse meta-fuse-kvwatch meta-fuse-fused; do
	[ -x "$BIN/$b" ] || skip "$b is not built"
done
unset REDIS_URL REDIS_PREFIX META_CORE_PATH VFS_REFRESH_INTERVAL META_FUSE_RUNTIME_DIR \
	META_FUSE_CONFIG NOTIFY_SOCKET PUID PGID META_FUSE_WRITER_USER FUSE_MOUNT_POINT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}"

WRITER=61000
READER=61001
MNT="$T/mnt"
RUN="$T/run"
# The workers are not root: they must reach the configuration and the files.
chmod 755 "$T"
mkdir -p "$T/files" "$MNT"
start_redis
# davd and apid, once built, listen here.
WEBDAV_PORT=$(free_port)
API_PORT=$(free_port)

# sv_add ID PATH TITLE [YEAR]: one file and its keys.
sv_add() {
	local id=$1 rel=$2 title=$3 year=${4:-}
	mkdir -p "$T/files/$(dirname "$rel")"
	head -c $((4096 + ${#rel})) /dev/urandom >"$T/files/$rel"
	rcli SET "meta-sort:file:$id:filePath" "$rel" >/dev/null
	rcli SET "meta-sort:file:$id:title" "$title" >/dev/null
	rcli SET "meta-sort:file:$id:size" "$(stat -c %s "$T/files/$rel")" >/dev/null
	[ -z "$year" ] || rcli SET "meta-sort:file:$id:year" "$year" >/dev/null
}

sv_library() {
	sv_add m1 "media1/Movies/Inception (2010)/Inception.mkv" Inception 2010
	sv_add m2 "media1/Movies/The Matrix (1999)/Matrix.mkv" "The Matrix" 1999
	sv_add m3 "media1/Movies/Alien (1979)/Alien.mkv" Alien 1979
	chmod -R a+rX "$T/files"
}

sv_config() {
	cat >"$T/mf.conf" <<EOF
runtime_dir = "$RUN";
state_dir = "$T/state";
files_volume = "$T/files";
uid = $READER;
gid = $READER;
writer_user = "$WRITER";
kv = { redis_url = "redis://127.0.0.1:$REDIS_PORT"; debounce_ms = 50; };
fuse = { mount_point = "$MNT"; attr_ttl_ms = 0; dir_ttl_ms = 0; };
webdav = { listen = "127.0.0.1:$WEBDAV_PORT"; };
api = { listen = "127.0.0.1:$API_PORT"; };
${1:-}
EOF
	chmod 644 "$T/mf.conf"
}

sv_status() {
	"$MF" status --runtime-dir "$RUN" --json 2>/dev/null
}

wfield() {
	sv_status | jq -r --arg n "$1" ".workers[] | select(.name == \$n) | .$2"
}

wpid() {
	local p
	p=$(wfield "$1" pid)
	echo "${p:-0}"
}

sv_state_is() {
	[ "$(sv_status | jq -r .state)" = "$1" ]
}

wstate_is() {
	[ "$(wfield "$1" state)" = "$2" ]
}

# wait_state NAME STATE [SECONDS]
wait_state() {
	wait_for "${3:-30}" wstate_is "$1" "$2" ||
		fail "$1: expected state $2, got $(wfield "$1" state) ($(sv_status))"
}

start_sv() {
	start_bg sv "$MF" run -c "$T/mf.conf" "$@"
	SV_PID=$LAST_PID
	register_mount "$MNT"
	wait_for 60 sv_state_is running || fail "the supervisor did not get ready: $(sv_status)"
}

# Every process whose command line names our configuration.
sv_procs() {
	pgrep -f -- "-c $T/mf.conf" || true
}

stop_sv() {
	kill -TERM "$SV_PID"
	wait "$SV_PID"
	local rc=$?
	expect_eq "$rc" 0 "the supervisor exits 0 on SIGTERM"
	grep -qs " $MNT fuse" /proc/mounts && fail "the mount is still there after SIGTERM"
	ok "no mount left"
	[ -z "$(sv_procs)" ] || fail "processes left: $(sv_procs | xargs ps -o pid,user,cmd -p)"
	ok "no process left"
	check_sanitizer
}

check_sanitizer() {
	if grep -lE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T"/*.log 2>/dev/null; then
		fail "sanitizer report in the logs"
	fi
}

# ms since the epoch, for timings
now_ms() {
	date +%s%3N
}
