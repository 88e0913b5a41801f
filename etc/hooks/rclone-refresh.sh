#!/bin/sh
# meta-fuse change hook: refresh an rclone mount's directory cache
# (`rclone mount` or `rclone serve` of meta-fuse's WebDAV share, started with
# --rc) for the folders that changed.
#
#   hooks = { on_change = "/etc/meta-fuse/hooks/rclone-refresh.sh"; debounce_ms = 2000; };
#
# kvwatch runs this after a new generation of the tree was published, with the
# changed virtual directories on stdin, one a line ("/" alone: everything), and
# META_FUSE_GENERATION in the environment.  Set:
#   RCLONE_RC_URL   the remote control address (default http://127.0.0.1:5572/)
#   RCLONE_RC_USER, RCLONE_RC_PASS   when --rc-user/--rc-pass are in use
#   RCLONE_REMOTE_PREFIX  the tree's path within the rclone remote, if the remote
#                   is not the WebDAV share's root (e.g. "webdav/")
# Needs rclone.
set -u
RCLONE_RC_URL=${RCLONE_RC_URL:-http://127.0.0.1:5572/}
RCLONE_REMOTE_PREFIX=${RCLONE_REMOTE_PREFIX:-}

set -- --url "$RCLONE_RC_URL"
[ -n "${RCLONE_RC_USER:-}" ] && set -- "$@" --user "$RCLONE_RC_USER" --pass "${RCLONE_RC_PASS:-}"
set -- "$@" vfs/refresh recursive=true

n=0
while IFS= read -r dir; do
	[ -n "$dir" ] || continue
	rel=${dir#/}
	rel="$RCLONE_REMOTE_PREFIX$rel"
	rel=${rel%/}
	if [ -z "$rel" ]; then
		# The root: one refresh of everything, whatever else changed.
		exec rclone rc "$@"
	fi
	if [ $n -eq 0 ]; then
		key=dir
	else
		key=dir$((n + 1))
	fi
	set -- "$@" "$key=$rel"
	n=$((n + 1))
done
[ $n -gt 0 ] || exit 0
exec rclone rc "$@"
