#!/usr/bin/env bash
# kvwatch_gen.sh N [START] [PREFIX] [SEP]: print, in Redis protocol, a generated
# media library of N files (ids START..START+N-1) for `redis-cli --pipe`: one
# MSET per file with 16 keys in meta-sort's layout (PREFIX default "meta-sort:",
# SEP ":"; pass "" and "/" for the upstream "file:{id}/{property}" layout).
# Sourced by nothing: the kvwatch scenarios and bench/kvwatch/run.sh run it.
#
# Ten files in a row: 5 movies, 3 series episodes, 1 anime episode, 1 file with
# no title (placed under /Other).  Every virtual path is unique and predictable:
#   i%10 in 0..4  /Movies/Movie <i> (<1950 + i%70>)/Movie <i>.mkv
#   i%10 in 5..7  /TV/Show <i/10>/Season 0<1 + i%3>/Show <i/10> - S0<1 + i%3>E<i%10 pad2>.mkv
#   i%10 == 8     /Anime/Anime <i/10>/Season 01/Anime <i/10> - S01E08.mkv
#   i%10 == 9     /Other/file<i>.iso
# Ids are 64 hex digits, like meta-sort's midhash256.
set -eu
n=${1:?usage: kvwatch_gen.sh N [START] [PREFIX] [SEP]}
start=${2:-0}
prefix=${3-meta-sort:}
sep=${4-:}
LC_ALL=C exec awk -v n="$n" -v start="$start" -v prefix="$prefix" -v sep="$sep" '
function bulk(s) { return "$" length(s) "\r\n" s "\r\n" }
function put(prop, value) { out = out bulk(base prop) bulk(value); args += 2 }
BEGIN {
	for (i = start; i < start + n; i++) {
		id = sprintf("%08x%08x%08x%08x%08x%08x%08x%08x", i, i * 7 + 1, i * 13 + 5,
			     i * 17 + 3, i * 19 + 11, i * 23 + 7, i * 29 + 13, i * 31 + 17)
		base = prefix "file:" id sep
		out = ""; args = 1
		k = i % 10
		if (k <= 4) {
			title = "Movie " i; year = 1950 + i % 70
			path = "media1/Movies/" title " (" year ")/" title ".mkv"
			put("title", title); put("year", year); put("mediaType", "movie")
			put("video/codec", "h264")
		} else if (k <= 7) {
			title = "Show " int(i / 10); season = 1 + i % 3
			path = sprintf("media2/TV/%s/Season %02d/%s - S%02dE%02d.mkv", title, season, title, season, k)
			put("title", title); put("season", season); put("episode", k)
			put("mediaType", "tv")
		} else if (k == 8) {
			title = "Anime " int(i / 10)
			path = sprintf("media3/Anime/%s/%s - %02d.mkv", title, title, k)
			put("title", title); put("episode", k); put("mediaType", "anime")
			put("video/codec", "hevc")
		} else {
			path = "media4/misc/file" i ".iso"
			put("video/codec", "none"); put("mediaType", "other")
			put("audio/channels", "2"); put("tags", "misc")
		}
		fname = path; sub(/.*\//, "", fname)
		ext = fname; sub(/.*\./, "", ext)
		put("filePath", path); put("fileName", fname); put("extension", ext)
		put("size", 1000000 + i); put("mtime", (1700000000 + i) "000")
		put("ctime", (1700000000 + i) "000"); put("audio/codec", "aac")
		put("resolution", "1920x1080"); put("duration", 5400 + i % 600)
		put("language", "en"); put("container", "matroska"); put("bitrate", 8000000)
		printf "*%d\r\n$4\r\nMSET\r\n%s", args, out
	}
}'
