#!/bin/sh
# entrypoint.sh: the container's PID 1 — the original service's environment
# variables become meta-fuse's configuration, then `meta-fuse run` takes over.
#
#   entrypoint.sh [COMMAND [ARG...]]     default COMMAND: run
#
# COMMAND is a meta-fuse subcommand (run, check-config, dump, ...), run with
# `-c <generated file>`; anything else that is not a meta-fuse subcommand (sh,
# say) is executed as it is.
#
# The variables and their keys (docs/packaging.md, "Container"):
#   PUID, PGID                   uid, gid (the readers; default 1000, 1000)
#   FILES_VOLUME                 files_volume            (/files)
#   META_SORT_WEBDAV_URL         source_webdav_url       ("")
#   META_CORE_PATH               kv.meta_core_path       (/meta-core)
#   REDIS_URL, REDIS_PREFIX      kv.redis_url, kv.prefix ("", "meta-sort:")
#   VFS_REFRESH_INTERVAL         kv.refresh_interval_ms  (30000)
#   FUSE_MOUNT_POINT             fuse.mount_point        (/mnt/virtual)
#   FUSE_FILE_MODE, FUSE_DIR_MODE  fuse.file_mode, fuse.dir_mode ("644", "755")
#   FUSE_ALLOW_OTHER             fuse.allow_other        (true)
#   WEBDAV_PORT                  webdav.listen           (0.0.0.0:8080)
#   WEBDAV_USERNAME, WEBDAV_PASSWORD  webdav.username, webdav.password
#   WEBDAV_READONLY              webdav.readonly         (true; false is refused)
#   API_HOST, API_PORT           api.listen              (0.0.0.0:3000)
#   NGINX_PORT                   nginx in front on this port, as a supervised
#                                program (80; 0 = no nginx)
# Without WEBDAV_PASSWORD a random password is generated once, kept in
# $MF_ETC/webdav-password and printed in the log: the share never runs with a
# known default password.  META_FUSE_CONFIG naming an existing file skips all
# of this and uses that file as it is.
#
# For tests: MF_ETC (default /etc/meta-fuse) is where the generated files go,
# META_FUSE_LIBEXEC (default /usr/libexec/meta-fuse) where webdav-password is,
# MF_NGINX_TEMPLATE the nginx configuration to adapt, MF_NGINX_PREFIX nginx's
# prefix directory (pid file, temporary files; default /run/meta-fuse-nginx).
set -eu

etc=${MF_ETC:-/etc/meta-fuse}
libexec=${META_FUSE_LIBEXEC:-/usr/libexec/meta-fuse}
nginx_template=${MF_NGINX_TEMPLATE:-/usr/share/meta-fuse/nginx/meta-fuse.conf}
nginx_prefix=${MF_NGINX_PREFIX:-/run/meta-fuse-nginx}

say() { echo "<6>entrypoint: $*" >&2; }
die() { echo "<3>entrypoint: $*" >&2; exit 1; }

# A libconfig string: backslashes and double quotes escaped, no control characters.
str() {
	case "$2" in
	*[[:cntrl:]]*) die "$1: control characters are not allowed" ;;
	esac
	printf '"%s"' "$(printf '%s' "$2" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}
num() {
	case "$2" in
	'' | *[!0-9]*) die "$1: \"$2\" is not a number" ;;
	esac
	printf '%s' "$2"
}
# A bool as the original took it (true/false, yes/no, 1/0, any case).
bool() {
	case "$(printf '%s' "$2" | tr 'A-Z' 'a-z')" in
	true | yes | 1) printf 'true' ;;
	false | no | 0) printf 'false' ;;
	*) die "$1: \"$2\" is not a boolean; use true/false, yes/no or 1/0" ;;
	esac
}

generate() {
	conf=$1
	webdav_user=${WEBDAV_USERNAME:-metamesh}
	webdav_port=$(num WEBDAV_PORT "${WEBDAV_PORT:-8080}")
	api_host=${API_HOST:-0.0.0.0}
	api_port=$(num API_PORT "${API_PORT:-3000}")
	nginx_port=$(num NGINX_PORT "${NGINX_PORT:-80}")
	case "$api_host" in
	*:*:*) case "$api_host" in \[*) ;; *) api_host="[$api_host]" ;; esac ;;
	esac
	mkdir -p "$etc"

	if [ -n "${WEBDAV_PASSWORD:-}" ]; then
		v_user=$(str WEBDAV_USERNAME "$webdav_user")
		v_password=$(str WEBDAV_PASSWORD "$WEBDAV_PASSWORD")
		credentials="	username = $v_user;
	password = $v_password;"
	else
		if [ ! -s "$etc/webdav-password" ] ||
			! grep -q -x -F "username = $(str WEBDAV_USERNAME "$webdav_user");" \
				"$etc/webdav-credentials.conf" 2>/dev/null; then
			"$libexec/webdav-password" --dir "$etc" --user "$webdav_user" >/dev/null
			say "WEBDAV_PASSWORD is not set: the WebDAV user \"$webdav_user\" has the" \
				"random password $(cat "$etc/webdav-password") (kept in $etc/webdav-password)"
		else
			say "WEBDAV_PASSWORD is not set: the WebDAV user \"$webdav_user\" keeps the" \
				"password in $etc/webdav-password"
		fi
		credentials="	@include \"webdav-credentials.conf\""
	fi

	programs=""
	if [ "$nginx_port" != 0 ]; then
		[ -f "$nginx_template" ] || die "NGINX_PORT: no nginx configuration at $nginx_template"
		# The supervisor execs a program's command as given (no PATH search).
		nginx_bin=$(command -v nginx) || die "NGINX_PORT: nginx is not installed (NGINX_PORT=0: none)"
		sed -e "s/^\(\t*\)listen 80;/\1listen $nginx_port;/" \
			-e "s/127\.0\.0\.1:3000;/127.0.0.1:$api_port;/" \
			-e "s/127\.0\.0\.1:8080;/127.0.0.1:$webdav_port;/" \
			"$nginx_template" >"$etc/nginx.conf.new"
		mv -f "$etc/nginx.conf.new" "$etc/nginx.conf"
		# nginx runs as whoever the supervisor runs programs as: root or the
		# readers' user may write its prefix.
		mkdir -p "$nginx_prefix"
		chmod 0700 "$nginx_prefix"
		chown "${PUID:-1000}:${PGID:-1000}" "$nginx_prefix" 2>/dev/null || true
		v_nprefix=$(str MF_NGINX_PREFIX "$nginx_prefix/")
		v_nconf=$(str MF_ETC "$etc/nginx.conf")
		v_nbin=$(str nginx "$nginx_bin")
		# As uid 0 without capabilities (PUID=0: the supervisor drops them all),
		# nginx's master would chown its temporary directories to nobody and
		# its workers call initgroups: both refused.  One process as root does
		# neither.
		nginx_g="daemon off;"
		[ "${PUID:-1000}" != 0 ] || nginx_g="daemon off; user root root; master_process off;"
		programs="programs = (
	{ name = \"nginx\";
	  command = [ $v_nbin, \"-p\", $v_nprefix,
	              \"-c\", $v_nconf,
	              \"-e\", \"stderr\", \"-g\", \"$nginx_g\" ]; }
);"
	fi

	# Every value is checked here, before the file is written: a failing $(...)
	# inside the here-document would not stop the script.
	v_uid=$(num PUID "${PUID:-1000}")
	v_gid=$(num PGID "${PGID:-1000}")
	v_files=$(str FILES_VOLUME "${FILES_VOLUME:-/files}")
	v_source=$(str META_SORT_WEBDAV_URL "${META_SORT_WEBDAV_URL:-}")
	v_core=$(str META_CORE_PATH "${META_CORE_PATH:-/meta-core}")
	v_redis=$(str REDIS_URL "${REDIS_URL:-}")
	v_prefix=$(str REDIS_PREFIX "${REDIS_PREFIX:-meta-sort:}")
	v_refresh=$(num VFS_REFRESH_INTERVAL "${VFS_REFRESH_INTERVAL:-30000}")
	v_mount=$(str FUSE_MOUNT_POINT "${FUSE_MOUNT_POINT:-/mnt/virtual}")
	v_fmode=$(str FUSE_FILE_MODE "${FUSE_FILE_MODE:-644}")
	v_dmode=$(str FUSE_DIR_MODE "${FUSE_DIR_MODE:-755}")
	v_other=$(bool FUSE_ALLOW_OTHER "${FUSE_ALLOW_OTHER:-true}")
	v_ro=$(bool WEBDAV_READONLY "${WEBDAV_READONLY:-true}")
	v_api=$(str API_HOST "$api_host:$api_port")

	umask 077
	cat >"$conf.new" <<CONF
# Written by the container's entrypoint from its environment at $(date -u +%Y-%m-%dT%H:%M:%SZ);
# every start writes it anew (docs/packaging.md, "Container").
uid = $v_uid;
gid = $v_gid;
files_volume = $v_files;
source_webdav_url = $v_source;
kv = {
	meta_core_path = $v_core;
	redis_url = $v_redis;
	prefix = $v_prefix;
	refresh_interval_ms = $v_refresh;
};
fuse = {
	mount_point = $v_mount;
	file_mode = $v_fmode;
	dir_mode = $v_dmode;
	allow_other = $v_other;
};
webdav = {
	listen = "0.0.0.0:$webdav_port";
$credentials
	readonly = $v_ro;
};
api = {
	listen = $v_api;
};
$programs
CONF
	chmod 0644 "$conf.new"
	mv -f "$conf.new" "$conf"
}

if [ -n "${META_FUSE_CONFIG:-}" ] && [ -f "$META_FUSE_CONFIG" ]; then
	conf=$META_FUSE_CONFIG
	say "using $conf as it is"
else
	conf=$etc/container.conf
	generate "$conf"
fi

[ $# -gt 0 ] || set -- run
case "$1" in
run | check-config | dump | status | reload | restart | stop | refresh | confirm-removals) ;;
*) exec "$@" ;;
esac
cmd=$1
shift

# Checked twice: with the environment, so that a bad value's message names its
# variable; then without, as the workers read it (the supervisor gives them a
# clean environment), so the file must hold everything.
if ! meta-fuse check-config -c "$conf" >/dev/null ||
	! env -i PATH="$PATH" meta-fuse check-config -c "$conf" >/dev/null; then
	die "the configuration written from the environment ($conf) is refused; see above"
fi
if [ "$cmd" = run ]; then
	mp=$(sed -n 's/^\tmount_point = "\(.*\)";$/\1/p' "$conf")
	[ -z "$mp" ] || mkdir -p "$mp"
	[ -c /dev/fuse ] || say "/dev/fuse is missing: run the container with --device /dev/fuse"
fi
export META_FUSE_CONFIG="$conf"
exec meta-fuse "$cmd" -c "$conf" "$@"
