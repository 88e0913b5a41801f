#!/bin/sh
# meta-fuse change hook: tell Jellyfin (or Emby) which folders changed.
#
#   hooks = { on_change = "/etc/meta-fuse/hooks/jellyfin-refresh.sh"; debounce_ms = 5000; };
#
# kvwatch runs this after a new generation of the tree was published, with the
# changed virtual directories on stdin, one a line ("/" alone: everything), and
# META_FUSE_GENERATION in the environment.  The folders are reported through
# POST /Library/Media/Updated, so Jellyfin rescans only them; "/" asks for a
# full library refresh (POST /Library/Refresh).  Set:
#   JELLYFIN_URL          http://127.0.0.1:8096
#   JELLYFIN_API_KEY      an API key (Dashboard > API Keys)
#   JELLYFIN_MOUNT_PREFIX where Jellyfin sees the tree (default /mnt/virtual)
# Needs curl.
set -u
JELLYFIN_URL=${JELLYFIN_URL:-http://127.0.0.1:8096}
JELLYFIN_API_KEY=${JELLYFIN_API_KEY:-}
JELLYFIN_MOUNT_PREFIX=${JELLYFIN_MOUNT_PREFIX:-/mnt/virtual}

if [ -z "$JELLYFIN_API_KEY" ]; then
	echo "jellyfin-refresh: JELLYFIN_API_KEY is not set" >&2
	exit 2
fi

# One JSON string: the tree's names hold no control characters, so escaping
# backslash and double quote is enough.
json_string() {
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

body=""
while IFS= read -r dir; do
	[ -n "$dir" ] || continue
	if [ "$dir" = "/" ]; then
		exec curl -fsS -X POST -H "X-Emby-Token: $JELLYFIN_API_KEY" \
			"$JELLYFIN_URL/Library/Refresh" -o /dev/null
	fi
	entry="{\"Path\":$(json_string "$JELLYFIN_MOUNT_PREFIX$dir"),\"UpdateType\":\"Modified\"}"
	body="${body:+$body,}$entry"
done
[ -n "$body" ] || exit 0
curl -fsS -X POST -H "X-Emby-Token: $JELLYFIN_API_KEY" -H "Content-Type: application/json" \
	--data-binary "{\"Updates\":[$body]}" "$JELLYFIN_URL/Library/Media/Updated" -o /dev/null
