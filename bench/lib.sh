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
