# Helpers of the kvwatch_* scenarios; sourced after lib.sh (not a scenario).
#
# A scenario writes its configuration with kv_conf, runs meta-fuse-kvwatch and
# looks at what it published through `meta-fuse dump` (the header line as JSON:
# kv_hdr '.files'; the virtual paths: kv_paths).  Libraries come from
# kvwatch_gen.sh through `redis-cli --pipe`.

need jq redis-server redis-cli
KVW="$BIN/meta-fuse-kvwatch"
GEN="$MF_SOURCE_DIR/tests/integration/kvwatch_gen.sh"
RUN="$T/run"
mkdir -p "$RUN"
[ -x "$KVW" ] || skip "$KVW is not built"
[ -x "$BIN/meta-fuse" ] || skip "$BIN/meta-fuse is not built"
# The environment overrides the configuration: keep the caller's out of it.
unset REDIS_URL REDIS_PREFIX META_CORE_PATH VFS_REFRESH_INTERVAL META_FUSE_RUNTIME_DIR \
	META_FUSE_CONFIG NOTIFY_SOCKET

# kv_conf NAME [LIBCONFIG-KV-SETTINGS] [MORE-TOP-LEVEL-SETTINGS]: write $T/NAME.conf
# with runtime_dir = $RUN; the kv group gets short timeouts for tests.
kv_conf() {
	cat >"$T/$1.conf" <<EOC
runtime_dir = "$RUN";
kv = {
	connect_timeout_ms = 1000;
	command_timeout_ms = 3000;
	debounce_ms = 100;
	${2:-}
};
${3:-}
EOC
}

kv_dump() {
	"$BIN/meta-fuse" dump --runtime-dir "$RUN" 2>/dev/null
}

# kv_hdr JQ-FILTER: a field of the published snapshot's header.
kv_hdr() {
	kv_dump | sed -n 1p | jq -r "$1"
}

# kv_is JQ-CONDITION: does the published header satisfy it?
kv_is() {
	kv_dump | sed -n 1p | jq -e "$1" >/dev/null 2>&1
}

# kv_wait SECONDS JQ-CONDITION [WHAT]: wait until the header satisfies it.
kv_wait() {
	wait_for "$1" kv_is "$2" ||
		fail "${3:-$2}: not reached in $1 s; header: $(kv_dump | sed -n 1p)"
	ok "${3:-$2}"
}

kv_paths() {
	kv_dump | tail -n +2 | jq -r '.path'
}

# (grep reads all its input: with pipefail, an early exit would fail the pipe)
kv_has_path() {
	kv_paths | grep -xF -- "$1" >/dev/null
}

# kv_node PATH: the dump line of one node.
kv_node() {
	kv_dump | tail -n +2 | jq -c --arg p "$1" 'select(.path == $p)'
}

# kv_load N [START] [PREFIX] [SEP] [DB]: generate N files into Redis.
kv_load() {
	"$GEN" "$1" "${2:-0}" "${3-meta-sort:}" "${4-:}" |
		redis-cli -p "$REDIS_PORT" -n "${5:-0}" --pipe >/dev/null ||
		fail "loading $1 files into redis"
}

# kv_publish JSON: announce a change on the seed layout's channel.
kv_publish() {
	rcli publish meta-sort:file:batch "$1" >/dev/null
}

# kv_start NAME: run kvwatch with $T/NAME.conf in the background; sets KV_PID.
kv_start() {
	start_bg "kvwatch-$1" "$KVW" -c "$T/$1.conf" -v
	KV_PID=$LAST_PID
}

# kv_stop: stop the kvwatch started last and check its exit status.
kv_stop() {
	kill -TERM "$KV_PID" 2>/dev/null
	local rc=0
	wait "$KV_PID" || rc=$?
	expect_eq "$rc" 0 "kvwatch exits 0 on SIGTERM"
}

kv_alive() {
	kill -0 "$KV_PID" 2>/dev/null || fail "kvwatch died; log: $(tail -n 20 "$T"/kvwatch-*.log)"
}

# kv_gen_id I: the hash id kvwatch_gen.sh gives file I.
kv_gen_id() {
	local i=$1
	printf '%08x%08x%08x%08x%08x%08x%08x%08x' "$i" $((i * 7 + 1)) $((i * 13 + 5)) \
		$((i * 17 + 3)) $((i * 19 + 11)) $((i * 23 + 7)) $((i * 29 + 13)) $((i * 31 + 17))
}

# kv_delete START N: delete every key of generated files START..START+N-1 at once
# (one transaction) and quietly (no message): only a resync can notice.
kv_delete() {
	local i
	{
		echo MULTI
		for i in $(seq "$1" $(($1 + $2 - 1))); do
			rcli --scan --pattern "meta-sort:file:$(kv_gen_id "$i"):*"
		done | sed 's/^/DEL "/; s/$/"/'
		echo EXEC
	} | rcli >/dev/null
}
