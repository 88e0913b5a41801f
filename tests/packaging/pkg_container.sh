#!/bin/bash
# pkg_container: the container image, built as the Dockerfile builds it but from
# Debian's archive with mmdebstrap (no image can be pulled here): a bookworm root
# file system, packaging/container/setup-image.sh installing the .deb.  The image
# holds meta-fuse, its users, curl and nginx and no WebDAV password; the
# entrypoint runs as PID 1 (unshare --pid, chroot) and execs what it is given in
# its place; with the original service's variables it writes a configuration
# that check-config accepts with an empty environment.  When the image's
# meta-fuse has `run` (the supervisor): the suite comes up as PID 1 against a
# Redis on the host, the library is mounted inside, the Dockerfile's health check
# goes green, WebDAV serves a range with WEBDAV_PASSWORD directly and through
# nginx, and SIGTERM to PID 1 ends everything (no process in the image's root,
# no mount).
# Until the supervisor is built that last part is skipped (exit 77), saying so.
#
# MF_PKG_CONTAINER=0 skips it all (mmdebstrap downloads ~70 MB from Debian's
# archive: 30 s to 3.5 min here, depending on the mirror).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"
: "${MF_PKG_DIR:?run through tests/packaging/run.sh}"
[ "${MF_PKG_CONTAINER:-1}" != 0 ] || skip "MF_PKG_CONTAINER=0"
[ "$(id -u)" -eq 0 ] || skip "mmdebstrap, unshare and chroot need root here"
need mmdebstrap unshare chroot curl
DEB=$(ls "$MF_PKG_DIR"/meta-fuse_*.deb)
CT="$MF_SOURCE_DIR/packaging/container"
R="$T/rootfs"
MIRROR=${MF_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# --- the image ---
cp "$DEB" "$CT/setup-image.sh" "$CT/entrypoint.sh" "$T/"
t0=$SECONDS
if ! mmdebstrap --quiet --variant=apt \
	--customize-hook="copy-in $T/$(basename "$DEB") $T/setup-image.sh $T/entrypoint.sh /tmp" \
	--customize-hook="chroot \"\$1\" sh /tmp/setup-image.sh /tmp/$(basename "$DEB") /tmp/entrypoint.sh" \
	--customize-hook='rm -f "$1"/tmp/*.deb "$1"/tmp/setup-image.sh "$1"/tmp/entrypoint.sh' \
	bookworm "$R" "$MIRROR" >"$T/mmdebstrap.log" 2>&1; then
	curl -fsI -o /dev/null "$MIRROR/dists/bookworm/Release" ||
		skip "Debian's archive ($MIRROR) cannot be reached"
	fail "mmdebstrap failed: $(tail -n 10 "$T/mmdebstrap.log")"
fi
ok "the image's root file system is built ($((SECONDS - t0)) s, $(du -sm "$R" | cut -f1) MB)"

in_image() { chroot "$R" "$@"; }
expect_match "$(in_image dpkg-query -W -f='${Status} ${Version}' meta-fuse)" '^install ok installed ' \
	"the image has the package installed"
for u in meta-fuse meta-fuse-media; do
	in_image getent passwd "$u" >/dev/null || fail "the image lacks user $u"
done
ok "the image has the service users"
for c in curl nginx meta-fuse /usr/local/bin/meta-fuse-entrypoint; do
	in_image sh -c "command -v $c" >/dev/null || fail "the image lacks $c"
done
ok "the image has curl (health check), nginx (front) and the entrypoint"
[ ! -e "$R/etc/meta-fuse/webdav-password" ] && [ ! -e "$R/etc/meta-fuse/webdav-credentials.conf" ] ||
	fail "the image holds a WebDAV password: every container would share it"
ok "the image holds no WebDAV password"
if in_image dpkg-query -W -f='${Status}' systemd 2>/dev/null | grep -q 'ok installed'; then
	fail "the image carries systemd (it should take the standalone sysusers and tmpfiles)"
fi
ok "the image does not carry systemd (standalone sysusers and tmpfiles)"

# container ENV... -- COMMAND...: run COMMAND in the image as PID 1 of new PID,
# mount, UTS and IPC namespaces, with only the given environment (the host's
# network, as `--network host`).  Nothing it mounts is seen outside.
container() {
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	unshare --pid --fork --mount --uts --ipc --kill-child=SIGTERM -- \
		env R="$R" FILES="$T/files" bash -c '
		set -e
		mount --make-rprivate /
		mount -t proc proc "$R/proc"
		mount --rbind /dev "$R/dev"
		mount -t tmpfs -o mode=0755 tmpfs "$R/run"
		mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
		[ ! -d "$FILES" ] || mount --bind -o ro "$FILES" "$R/files"
		exec chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"' \
		sh "${envs[@]}" "$@"
}

got=$(container -- /usr/local/bin/meta-fuse-entrypoint sh -c 'echo $$' 2>"$T/pid1.log")
expect_eq "$got" 1 "the entrypoint runs as PID 1 and execs its command in its place"

container PUID=1234 PGID=1234 REDIS_URL=redis://10.1.2.3:6379 FUSE_ALLOW_OTHER=false \
	WEBDAV_PORT=8181 API_PORT=3131 -- \
	sh -c '/usr/local/bin/meta-fuse-entrypoint check-config >/dev/null &&
		env -i meta-fuse check-config -c /etc/meta-fuse/container.conf' >"$T/cc.log" 2>"$T/cc.err" ||
	fail "the entrypoint's configuration is refused in the image: $(cat "$T/cc.err")"
for want in 'uid = 1234  # file' 'kv.redis_url = "redis://10.1.2.3:6379"  # file' \
	'fuse.allow_other = false  # file' 'webdav.listen = "0.0.0.0:8181"  # file' \
	'api.listen = "0.0.0.0:3131"  # file' 'webdav.password = "********"  # file'; do
	grep -qxF -- "$want" "$T/cc.log" || fail "in the image, expected '$want' in: $(cat "$T/cc.log")"
done
ok "in the image, the entrypoint writes the configuration from the environment"
# (the first start, the PID 1 check above, made the password; later starts keep it)
pw=$(cat "$R/etc/meta-fuse/webdav-password" 2>/dev/null)
[ -n "$pw" ] && grep -qF "random password $pw" "$T/pid1.log" ||
	fail "the first start does not say its generated password: $(cat "$T/pid1.log")"
grep -qF 'keeps the password in /etc/meta-fuse/webdav-password' "$T/cc.err" ||
	fail "a later start does not say where the password is: $(cat "$T/cc.err")"
ok "a container without WEBDAV_PASSWORD makes its own, says it, keeps it"

# --- the suite as PID 1 ---
usage=$(in_image meta-fuse 2>&1 || true)
if ! grep -qE '^\s*run(\s|$)' <<<"$usage"; then
	skip "the suite as PID 1: the image's meta-fuse has no \`run\` (the supervisor is not built yet)"
fi
[ -c /dev/fuse ] || skip "the suite as PID 1: no /dev/fuse"
pkg_movie
# The readers' user as most set it (the default PUID), then as root: the
# supervisor drops every capability, and nginx must still start.
for puid in 1000 0; do
	APORT=$(free_port)
	WPORT=$(free_port)
	NPORT=$(free_port)
	container PUID="$puid" PGID="$puid" REDIS_URL="redis://127.0.0.1:$REDIS_PORT" API_PORT="$APORT" \
		WEBDAV_PORT="$WPORT" NGINX_PORT="$NPORT" WEBDAV_PASSWORD=secret -- \
		/usr/local/bin/meta-fuse-entrypoint >"$T/container-$puid.log" 2>&1 &
	MF_PIDS+=("$!")
	# The background job is a subshell; its child is unshare, whose child is PID 1.
	wait_for 10 pgrep -P "$!" || fail "the container did not start"
	UNSHARE_PID=$(pgrep -P "$!" | head -1)
	MF_PIDS+=("$UNSHARE_PID")
	wait_for 10 pgrep -P "$UNSHARE_PID" || fail "the container has no PID 1"
	PID1=$(pgrep -P "$UNSHARE_PID" | head -1)
	# (unshare ignores SIGTERM; the cleanup's SIGTERM reaches PID 1 itself)
	MF_PIDS+=("$PID1")
	health=$(sed -n 's/^\s*CMD \(curl .*\) || exit 1$/\1/p' "$CT/Dockerfile" | sed "s/\${API_PORT:-3000}/$APORT/")
	[ -n "$health" ] || fail "no HEALTHCHECK command found in the Dockerfile"
	wait_for 60 in_image sh -c "$health" || fail "the health check stays red: $(tail -n 20 "$T/container-$puid.log")"
	ok "PUID=$puid: the Dockerfile's health check is green ($health)"
	wait_for 20 test -e "/proc/$PID1/root/mnt/virtual$MOVIE_PATH" ||
		fail "the library is not mounted in the container"
	cmp -s "/proc/$PID1/root/mnt/virtual$MOVIE_PATH" "$MOVIE_SRC" || fail "the movie reads back differently"
	ok "the container mounts the library and a file reads back whole"
	wait_for 10 curl -fs -o /dev/null "http://127.0.0.1:$NPORT/api/fuse/health"
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NPORT/api/fuse/health")" 200 \
		"nginx in the container answers on NGINX_PORT"
	url="/webdav/Movies/Inception%20(2010)/Inception.mkv"
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WPORT$url")" 401 \
		"the container's WebDAV asks for credentials"
	for port in "$WPORT" "$NPORT"; do
		got=$(curl -s -u metamesh:secret -r 1000-1999 -o "$T/range.bin" \
			-w '%{http_code} %{size_download}' "http://127.0.0.1:$port$url")
		expect_eq "$got" "206 1000" "a Range GET with WEBDAV_PASSWORD on port $port (davd, then nginx)"
		cmp -s "$T/range.bin" <(tail -c +1001 "$MOVIE_SRC" | head -c 1000) ||
			fail "the range through port $port differs from the source"
	done
	ok "WebDAV serves the movie's bytes, directly and through nginx"
	# SIGTERM to PID 1, as `docker stop` sends it.
	kill -TERM "$PID1"
	wait_for 30 bash -c "! kill -0 $PID1 2>/dev/null" || fail "PID 1 is still running after SIGTERM"
	wait_for 10 bash -c "! kill -0 $UNSHARE_PID 2>/dev/null" || fail "the container is still running"
	left=""
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" != "$R" ] || left+="${p#/proc/} "
	done
	expect_eq "$left" "" "no process is left in the image's root"
	grep -qs " $R/" /proc/mounts && fail "a mount is left under the image's root: $(grep " $R/" /proc/mounts)"
	ok "PUID=$puid: SIGTERM to the container's PID 1 ends it, nothing left"
done
