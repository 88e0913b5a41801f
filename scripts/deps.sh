#!/usr/bin/env bash
# Install the Debian 12 packages meta-fuse needs to build, test and run;
# `deps.sh --bench` adds the peers the benchmarks compare with; `deps.sh --packaging`
# the tools that build and check the packages and the container (tests/packaging/).
# Everything comes from Debian's archive; nothing else is downloaded.
set -euo pipefail

packages=(
	# build
	build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
	libfuse3-dev libhiredis-dev libmicrohttpd-dev libconfig-dev libsystemd-dev
	libjansson-dev libexpat1-dev libcurl4-gnutls-dev libcmocka-dev
	libxxhash-dev
	# run and test
	fuse3 redis-server redis-tools attr rsync curl procps psmisc jq python3
	# davd: crypt(3) for hashed passwords; real WebDAV clients for its tests
	libcrypt-dev rclone cadaver davfs2
	# apid's tests: promtool checks /metrics, headless chromium loads the dashboard
	prometheus chromium
	nginx
)
if [ "${1:-}" = "--bench" ]; then
	packages+=(bindfs mergerfs fio util-linux time)
	# bench/davd: the WebDAV peers and the load tool
	packages+=(wrk nginx libnginx-mod-http-dav-ext apache2 lighttpd lighttpd-mod-webdav)
	# bench/apid: the Fastify peer (from npm)
	# (Debian's npm conflicts with a Node.js installed otherwise: keep the one there)
	command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
	packages+=(supervisor) # bench/supervisor
fi
if [ "${1:-}" = "--packaging" ]; then
	packages+=(debhelper dpkg-dev fakeroot lintian rpm cpio mmdebstrap podman systemd-container)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#packages[@]} packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}; run as root (or with sudo)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y --no-install-recommends "${missing[@]}"
