# bench/lib.sh: what the benchmark scripts share; sourced, not run.

# bench_redis DIR: a redis-server on a random port below the ephemeral range,
# bound to loopback, nothing persisted (its files in DIR), answering PING when
# this returns.  Prints the port; the caller waits for (or kills) the server's
# pid, which is in DIR/redis.pid.
bench_redis() {
	local dir=$1 port=$((10000 + RANDOM % 20000))
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
		--protected-mode no --daemonize no >"$dir/redis.log" 2>&1 &
	echo $! >"$dir/redis.pid"
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
	echo "$port"
}

# bench_need CMD...: exit with one line naming the first command not installed.
bench_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "$(basename "$0"): $c is needed" >&2; exit 1; }
	done
}

# bench_stop DIR...: at exit, the processes in the caller's pids array killed
# (and waited for), then DIR... removed.
bench_stop() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$@"
}
