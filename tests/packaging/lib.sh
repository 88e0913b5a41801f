# Helpers of the packaging scenarios (tests/packaging/pkg_*.sh), sourced after
# tests/integration/lib.sh.  Not a scenario itself: run.sh runs pkg_*.sh only.
#
#   pkg_movie     a private Redis (start_redis) with one movie as meta-sort writes
#                 it, its source file under $T/files; sets MOVIE_SRC and MOVIE_PATH
#                 (its path in the virtual tree)

pkg_movie() {
	local rel="media1/Movies/Inception (2010)/Inception.mkv" id kv
	start_redis
	MOVIE_SRC="$T/files/$rel"
	MOVIE_PATH="/Movies/Inception (2010)/Inception.mkv"
	mkdir -p "$(dirname "$MOVIE_SRC")"
	head -c 3000000 /dev/urandom >"$MOVIE_SRC"
	id=$(printf '%s' "$rel" | sha256sum | cut -c1-64)
	for kv in "filePath=$rel" title=Inception year=2010 size=3000000 "mtime=$(date +%s)000"; do
		rcli set "meta-sort:file:$id:${kv%%=*}" "${kv#*=}" >/dev/null
	done
}
