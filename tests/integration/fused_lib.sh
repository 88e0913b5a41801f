# Helpers of the fused scenarios (tests/integration/fused_*.sh), sourced after
# lib.sh.  Not a scenario itself: it is not registered with CTest.
#
#   fused_config [KEY=VALUE...]   write $T/fused.conf (uid/gid 0 unless given, private dirs)
#   make_library MOVIES EPISODES  source files under $T/files and records in
#                                 $T/records.jsonl (the sizes and mtimes of the files)
#   publish [ARGS...]             mf-mksnapshot of $T/records.jsonl into $T/run
#   start_fused [ARGS...]         meta-fuse-fused on $T/mnt; waits for the mount
#   stop_fused                    SIGTERM, wait, check the exit status and the unmount
#   dump_files                    "path<TAB>size<TAB>mtime_s<TAB>source" per file
#   check_sanitizer               fail on an ASan/UBSan report in a fused log

need_root_fuse
need jq
MKSNAP="$MF_BUILD_DIR/tests/mf-mksnapshot"
[ -x "$MKSNAP" ] || skip "mf-mksnapshot is not built"
[ -x "$BIN/meta-fuse-fused" ] || skip "meta-fuse-fused is not built"
[ -x "$BIN/meta-fuse" ] || skip "meta-fuse is not built"

MNT="$T/mnt"
mkdir -p "$T/run" "$T/files" "$MNT"
# ASan: a leak report must fail the test, and must not be lost in the log.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}"

# fused_config [KEY=VALUE ...]: attr_ttl_ms dir_ttl_ms read_ahead_kb source_webdav_url
# allow_other uid gid
fused_config() {
	local attr=1000 dir=30000 ra=1024 webdav="" allow=true uid=0 gid=0
	for kv in "$@"; do
		case "$kv" in
		attr_ttl_ms=*) attr=${kv#*=} ;;
		dir_ttl_ms=*) dir=${kv#*=} ;;
		read_ahead_kb=*) ra=${kv#*=} ;;
		source_webdav_url=*) webdav=${kv#*=} ;;
		allow_other=*) allow=${kv#*=} ;;
		uid=*) uid=${kv#*=} ;;
		gid=*) gid=${kv#*=} ;;
		*) fail "fused_config: unknown key $kv" ;;
		esac
	done
	cat >"$T/fused.conf" <<EOF
runtime_dir = "$T/run";
files_volume = "$T/files";
source_webdav_url = "$webdav";
uid = $uid;
gid = $gid;
kv = { redis_url = "redis://127.0.0.1:${REDIS_PORT:-1}"; refresh_interval_ms = 600000; };
fuse = {
	mount_point = "$MNT";
	attr_ttl_ms = $attr;
	dir_ttl_ms = $dir;
	read_ahead_kb = $ra;
	allow_other = $allow;
};
EOF
}

# record HASH FILEPATH JSON-FIELDS: one line of $T/records.jsonl for an existing source.
record() {
	local id=$1 rel=$2 fields=$3 size mtime
	size=$(stat -c %s "$T/files/$rel")
	mtime=$(stat -c %Y "$T/files/$rel")
	printf '{"hashId": "%s", "filePath": "%s", "size": %s, "mtime": %s%s}\n' \
		"$id" "$rel" "$size" "$mtime" "${fields:+, $fields}" >>"$T/records.jsonl"
}

# make_library MOVIES EPISODES: movies with a year, episodes of a few shows, one
# bigger file (3 MiB, so that reads take several requests) and one "other" file.
make_library() {
	local movies=$1 episodes=$2 i rel
	: >"$T/records.jsonl"
	mkdir -p "$T/files/media1/Movies" "$T/files/media1/TV" "$T/files/media2"
	for i in $(seq 1 "$movies"); do
		rel="media1/Movies/movie $i/Movie.$i.mkv"
		mkdir -p "$T/files/$(dirname "$rel")"
		head -c $((1000 + i * 37)) /dev/urandom >"$T/files/$rel"
		touch -d "@$((1600000000 + i * 3600))" "$T/files/$rel"
		record "m$i" "$rel" "\"title\": \"Movie Ünïcode $i\", \"year\": $((1990 + i % 30))"
	done
	for i in $(seq 1 "$episodes"); do
		rel="media1/TV/show$((i % 3))/ep$i.mkv"
		mkdir -p "$T/files/$(dirname "$rel")"
		head -c $((500 + i * 11)) /dev/urandom >"$T/files/$rel"
		record "e$i" "$rel" "\"title\": \"Show $((i % 3))\", \"season\": $((1 + i % 2)), \"episode\": $i"
	done
	head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$T/files/media2/big.mkv"
	record "big" "media2/big.mkv" "\"title\": \"Big One\", \"year\": 2020"
	head -c 4242 /dev/urandom >"$T/files/media2/leftover.bin"
	record "oth" "media2/leftover.bin" ""
}

publish() {
	"$MKSNAP" -c "$T/fused.conf" "$@" <"$T/records.jsonl" >>"$T/mksnapshot.log" 2>&1 ||
		fail "mf-mksnapshot failed: $(tail -n 3 "$T/mksnapshot.log")"
}

is_mounted() {
	grep -qs " $MNT fuse" /proc/mounts
}

# start_fused [ARGS...]: sets FUSED_PID.
start_fused() {
	register_mount "$MNT"
	# A new log: the old one's "mounted at" must not satisfy the wait below.
	[ -f "$T/fused.log" ] && cat "$T/fused.log" >>"$T/fused-earlier.log"
	rm -f "$T/fused.log"
	start_bg fused "$BIN/meta-fuse-fused" -c "$T/fused.conf" -v -v "$@"
	FUSED_PID=$LAST_PID
	wait_for 10 grep -q "mounted at" "$T/fused.log" || fail "fused did not mount"
	is_mounted || fail "no mount at $MNT"
}

stop_fused() {
	local rc
	kill -TERM "$FUSED_PID"
	wait "$FUSED_PID"
	rc=$?
	expect_eq "$rc" 0 "fused exits 0 on SIGTERM"
	wait_for 5 bash -c "! grep -qs ' $MNT fuse' /proc/mounts" || fail "still mounted after SIGTERM"
}

# The files of the current snapshot: path, size, mtime in seconds, source.
dump_files() {
	"$BIN/meta-fuse" dump --runtime-dir "$T/run" |
		jq -r 'select(.type == "file") | [.path, .size, (.mtime / 1000 | floor), .source] | @tsv'
}

# No sanitizer report in any log of fused in this scenario.
check_sanitizer() {
	if grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T"/fused*.log \
		"$T"/fdmode.log "$T"/second.log 2>/dev/null; then
		fail "sanitizer report in the logs above"
	fi
	ok "no sanitizer report"
}
