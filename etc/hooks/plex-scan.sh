#!/bin/sh
# meta-fuse change hook: ask Plex for a partial scan of each changed folder.
#
#   hooks = { on_change = "/etc/meta-fuse/hooks/plex-scan.sh"; debounce_ms = 5000; };
#
# kvwatch runs this after a new generation of the tree was published, with the
# changed virtual directories on stdin, one a line ("/" alone: rescan all), and
# META_FUSE_GENERATION in the environment.  Set, in the environment of
# meta-fuse (or edit the defaults below):
#   PLEX_URL          http://127.0.0.1:32400
#   PLEX_TOKEN        your X-Plex-Token
#   PLEX_SECTIONS     which library section holds which top folder, e.g.
#                     "Movies=1 TV=2 Anime=3"; folders not named use PLEX_SECTION
#   PLEX_SECTION      the default section id (unset: such folders are skipped)
#   PLEX_MOUNT_PREFIX where Plex sees the tree (default /mnt/virtual)
# Needs curl.  Exits non-zero when a request failed (kvwatch logs it).
set -u
PLEX_URL=${PLEX_URL:-http://127.0.0.1:32400}
PLEX_TOKEN=${PLEX_TOKEN:-}
PLEX_SECTIONS=${PLEX_SECTIONS:-}
PLEX_SECTION=${PLEX_SECTION:-}
PLEX_MOUNT_PREFIX=${PLEX_MOUNT_PREFIX:-/mnt/virtual}

if [ -z "$PLEX_TOKEN" ]; then
	echo "plex-scan: PLEX_TOKEN is not set" >&2
	exit 2
fi

# section_of /Top/...: the section id for a virtual directory, or "" to skip.
section_of() {
	top=${1#/}
	top=${top%%/*}
	for pair in $PLEX_SECTIONS; do
		if [ "${pair%%=*}" = "$top" ]; then
			echo "${pair#*=}"
			return
		fi
	done
	echo "$PLEX_SECTION"
}

status=0
while IFS= read -r dir; do
	[ -n "$dir" ] || continue
	if [ "$dir" = "/" ]; then
		# Everything changed: a full scan of every section we know.
		for id in $(for pair in $PLEX_SECTIONS; do echo "${pair#*=}"; done) $PLEX_SECTION; do
			curl -fsS -G "$PLEX_URL/library/sections/$id/refresh" \
				--data-urlencode "X-Plex-Token=$PLEX_TOKEN" >/dev/null || status=1
		done
		continue
	fi
	id=$(section_of "$dir")
	[ -n "$id" ] || continue
	curl -fsS -G "$PLEX_URL/library/sections/$id/refresh" \
		--data-urlencode "path=$PLEX_MOUNT_PREFIX$dir" \
		--data-urlencode "X-Plex-Token=$PLEX_TOKEN" >/dev/null || status=1
done
exit $status
