#!/bin/bash
# bench/apid/run.sh: meta-fuse-apid beside a minimal Fastify server (the
# original service's stack, from npm) answering the same requests from an
# in-memory map of the same library, in one run.
#
#   bench/apid/run.sh [-n FILES] [-b BUILD_DIR] [-d SECONDS] [-c CONNECTIONS] [-t THREADS]
#
# The library: FILES records (default 100,000: movies, episodes, untitled
# files) made into a snapshot by mf-mksnapshot with the default rules.  Each
# system gets, one after the other under the same conditions (unpinned):
#   getattr   wrk -tTHREADS -cCONNECTIONS -dSECONDS, POST /api/fuse/getattr with
#             a random path of the library each time (getattr.lua)
#   stats     the same with GET /api/fuse/stats
# and the table gives requests per second and the 99th percentile latency.
# Needs wrk, node and npm (./scripts/deps.sh --bench), python3, jq, and a build
# with meta-fuse-apid, meta-fuse and mf-mksnapshot (use a Release build:
# -DSANITIZE=OFF; default BUILD_DIR is build-rel).  The first run installs
# fastify with npm into BUILD_DIR/bench-apid-peer.
set -u
set -o pipefail

FILES=100000
BUILD=""
SECS=10
CONNS=32
THREADS=2
while getopts "n:b:d:c:t:h" o; do
	case $o in
	n) FILES=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	d) SECS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	*) sed -n '2,20p' "$0"; exit 2 ;;
	esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
[ -n "$BUILD" ] || BUILD="$SRC/build-rel"
APID="$BUILD/bin/meta-fuse-apid"
MF="$BUILD/bin/meta-fuse"
MKSNAP="$BUILD/tests/mf-mksnapshot"

die() { echo "run.sh: $*" >&2; exit 1; }
for c in wrk node npm python3 jq curl; do
	command -v "$c" >/dev/null || die "'$c' is not installed (./scripts/deps.sh --bench)"
done
[ -x "$APID" ] && [ -x "$MF" ] && [ -x "$MKSNAP" ] ||
	die "no meta-fuse-apid / meta-fuse / mf-mksnapshot in $BUILD (cmake -B build-rel -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON)"

W=$(mktemp -d /tmp/apid-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- the library ----
python3 - "$FILES" >"$W/records.jsonl" <<'PY'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    r = {"hashId": "%016x" % (i * 2654435761 % (1 << 64)), "size": 1000000 + i,
         "mtime": 1600000000 + i}
    k = i % 10
    if k < 5:
        r.update(filePath="media1/movies/movie%d.mkv" % i, title="Movie %d" % i,
                 year=str(1950 + i % 70))
    elif k < 9:
        r.update(filePath="media1/tv/show%d/e%d.mkv" % (i // 100, i), title="Show %d" % (i // 100),
                 season=str(1 + i % 5), episode=str(i % 97 + 1))
    else:
        r.update(filePath="media2/misc/file%d.iso" % i)
    print(json.dumps(r))
PY
mkdir -p "$W/run"
printf 'runtime_dir = "%s";\nfiles_volume = "/files";\nuid = 0;\ngid = 0;\n' "$W/run" >"$W/apid.conf"
"$MKSNAP" -c "$W/apid.conf" --runtime-dir "$W/run" <"$W/records.jsonl" >/dev/null ||
	die "mf-mksnapshot failed"
"$MF" dump --runtime-dir "$W/run" >"$W/dump.jsonl" 2>/dev/null || die "meta-fuse dump failed"
tail -n +2 "$W/dump.jsonl" | jq -c 'select(.type == "file") | {path}' >"$W/bodies"
echo "library: $(wc -l <"$W/bodies") files, $(($(wc -l <"$W/dump.jsonl") - 1 - $(wc -l <"$W/bodies"))) directories"

# ---- the peer ----
PEER="$BUILD/bench-apid-peer"
if [ ! -d "$PEER/node_modules/fastify" ]; then
	mkdir -p "$PEER"
	cp "$HERE/peer/package.json" "$PEER/"
	(cd "$PEER" && npm install --no-audit --no-fund --silent) || die "npm install fastify failed"
fi
cp "$HERE/peer/server.js" "$PEER/"

# ---- run ----
APORT=$(port)
printf 'api = { listen = "127.0.0.1:%s"; };\n' "$APORT" >>"$W/apid.conf"
"$APID" -c "$W/apid.conf" -q >"$W/apid.log" 2>&1 &
PIDS+=($!)
FPORT=$(port)
node "$PEER/server.js" "$FPORT" /files <"$W/dump.jsonl" >"$W/peer.log" 2>&1 &
PIDS+=($!)
for u in "http://127.0.0.1:$APORT" "http://127.0.0.1:$FPORT"; do
	for _ in $(seq 100); do
		curl -sf -o /dev/null "$u/api/fuse/stats" && break
		sleep 0.1
	done
	curl -sf -o /dev/null "$u/api/fuse/stats" || die "$u does not answer"
done
# Both answer the same path the same way (sizes, mode), so they do the same work.
b=$(head -n1 "$W/bodies")
for u in "http://127.0.0.1:$APORT" "http://127.0.0.1:$FPORT"; do
	curl -s -H 'Content-Type: application/json' -d "$b" "$u/api/fuse/getattr" | jq -c '{size, mode}'
done

# wrkrun URL [wrk args]: "req/s p99" of one run.
wrkrun() {
	local url=$1 out
	shift
	out=$(BODIES="$W/bodies" wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "$@" "$url") ||
		die "wrk failed: $out"
	local rps p99 non2xx
	rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
	echo "$rps $p99 ${non2xx:-0}"
}

printf '\n%s files, wrk -t%s -c%s -d%ss, unpinned; %s CPUs, load before: %s\n' "$FILES" \
	"$THREADS" "$CONNS" "$SECS" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| system | request | req/s | p99 | non-2xx |\n|---|---|---|---|---|\n'
for sys in meta-fuse-apid fastify; do
	if [ "$sys" = fastify ]; then u="http://127.0.0.1:$FPORT"; else u="http://127.0.0.1:$APORT"; fi
	read -r rps p99 bad < <(wrkrun "$u" -s "$HERE/getattr.lua")
	printf '| %s | POST /api/fuse/getattr (random path) | %s | %s | %s |\n' "$sys" "$rps" "$p99" "$bad"
	read -r rps p99 bad < <(wrkrun "$u/api/fuse/stats")
	printf '| %s | GET /api/fuse/stats | %s | %s | %s |\n' "$sys" "$rps" "$p99" "$bad"
done
printf 'load after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"

# The heavy endpoints of meta-fuse-apid, one request at a time: median of 3.
once() {
	local t=()
	for _ in 1 2 3; do
		t+=("$(curl -s -o /dev/null -w '%{time_total}' "$@")")
	done
	printf '%s\n' "${t[@]}" | sort -n | sed -n 2p
}
u="http://127.0.0.1:$APORT"
printf '\n| meta-fuse-apid, one request | seconds (median of 3) |\n|---|---|\n'
printf '| GET /api/fuse/files?q=show (a substring over every path) | %s |\n' \
	"$(once "$u/api/fuse/files?q=show&limit=100")"
printf '| GET /api/fuse/files?offset=90000 (a late page) | %s |\n' \
	"$(once "$u/api/fuse/files?offset=90000&limit=100")"
printf '| POST /api/fuse/rules/preview (every file placed again) | %s |\n' \
	"$(once -H 'Content-Type: application/json' \
		-d '{"rules": [{"name": "all", "template": "/All/{title|fileName}/{fileName}"}]}' \
		"$u/api/fuse/rules/preview")"
printf '| GET /metrics | %s |\n' "$(once "$u/metrics")"
printf 'apid RSS after the run: %s kB\n' "$(awk '/^VmRSS/ {print $2}' "/proc/${PIDS[0]}/status")"
