#!/usr/bin/env bash
# The README's first command: install what is needed, build, and start the suite
# on the bundled demo library (demo/library.tsv) until Ctrl-C.
#
# Everything lives under $MF_DEMO_DIR (default /tmp/meta-fuse-demo): the media
# files, a private redis-server on 127.0.0.1:$MF_DEMO_REDIS_PORT (default 6390),
# the runtime directory with the snapshot, and the mount point mnt/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build -j"$(nproc)"

demo=${MF_DEMO_DIR:-/tmp/meta-fuse-demo}
port=${MF_DEMO_REDIS_PORT:-6390}
bin=$root/build/bin
pids=()

cleanup() {
	trap - EXIT INT TERM
	echo
	echo "demo: stopping"
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if grep -qs " $demo/mnt fuse" /proc/mounts; then
		fusermount3 -u -z "$demo/mnt" 2>/dev/null || umount -l "$demo/mnt" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 0' INT TERM

if grep -qs " $demo/mnt fuse" /proc/mounts; then
	fusermount3 -u -z "$demo/mnt" 2>/dev/null || umount -l "$demo/mnt"
fi
rm -rf "$demo/files" "$demo/run" "$demo/redis"
mkdir -p "$demo/files" "$demo/run" "$demo/mnt" "$demo/redis" "$demo/meta-core/locks"

# Media files of the demo library (zero-filled, of the listed sizes) and the
# Redis commands meta-sort would have issued for them.
: >"$demo/metadata.redis"
n=0
while IFS=$'\t' read -r size props; do
	case "$size" in '#'* | '') continue ;; esac
	n=$((n + 1))
	path=$(printf '%s' "$props" | tr '\t' '\n' | sed -n 's/^filePath=//p')
	id=$(printf '%s' "$path" | sha256sum | cut -c1-64)
	mkdir -p "$demo/files/$(dirname "$path")"
	head -c "$size" /dev/zero >"$demo/files/$path"
	printf '%s\n' "$props" | tr '\t' '\n' | while IFS='=' read -r key value; do
		printf 'SET "meta-sort:file:%s:%s" "%s"\n' "$id" "$key" \
			"$(printf '%s' "$value" | sed 's/["\\]/\\&/g')"
	done >>"$demo/metadata.redis"
	printf 'SET "meta-sort:file:%s:size" "%s"\n' "$id" "$size" >>"$demo/metadata.redis"
	printf 'SET "meta-sort:file:%s:mtime" "%s"\n' "$id" "$(date +%s)000" >>"$demo/metadata.redis"
done <demo/library.tsv

redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$demo/redis" \
	>"$demo/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$port" <"$demo/metadata.redis" >/dev/null

cat >"$demo/meta-fuse.conf" <<CONF
# The demo's configuration (scripts/demo.sh writes it).
runtime_dir = "$demo/run";
files_volume = "$demo/files";
kv: {
	meta_core_path = "$demo/meta-core";
	redis_url = "redis://127.0.0.1:$port";
	refresh_interval_ms = 30000;
};
fuse: {
	mount_point = "$demo/mnt";
	allow_other = true;
};
CONF
"$bin/meta-fuse" check-config -c "$demo/meta-fuse.conf" -q

"$bin/meta-fuse-kvwatch" -c "$demo/meta-fuse.conf" 2>"$demo/kvwatch.log" &
pids+=($!)
for _ in $(seq 100); do [ -f "$demo/run/vfs.snapshot" ] && break; sleep 0.1; done
"$bin/meta-fuse-fused" -c "$demo/meta-fuse.conf" 2>"$demo/fused.log" &
pids+=($!)
for _ in $(seq 100); do grep -qs " $demo/mnt fuse" /proc/mounts && break; sleep 0.1; done
grep -qs " $demo/mnt fuse" /proc/mounts || { echo "demo: fused did not mount; see $demo/fused.log"; exit 1; }

cat <<MSG

meta-fuse demo is running: $n files from demo/library.tsv.

  the virtual library     find $demo/mnt
  a file's metadata       getfattr -d -m user.meta "$demo/mnt/Movies/Inception (2010)/Inception.mkv"
  the snapshot            $bin/meta-fuse dump -c $demo/meta-fuse.conf
  logs                    $demo/kvwatch.log, $demo/fused.log

  a live change (rename a movie through its metadata, then look again):
    redis-cli -p $port SET "meta-sort:file:$(printf '%s' 'media1/Movies/Inception (2010)/Inception.mkv' | sha256sum | cut -c1-64):title" "Inception Redux"
    redis-cli -p $port PUBLISH meta-sort:file:batch '{"timestamp":0,"changes":[{"action":"update","hashId":"$(printf '%s' 'media1/Movies/Inception (2010)/Inception.mkv' | sha256sum | cut -c1-64)"}]}'

Not part of this build yet: meta-fuse-davd (WebDAV), meta-fuse-apid (REST API and
dashboard) and the supervisor (meta-fuse run); they arrive with their issues.

Ctrl-C stops everything and unmounts.
MSG
find "$demo/mnt" | head -40
wait
