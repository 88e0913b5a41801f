#!/usr/bin/env bash
# apid: every endpoint of the REST API over HTTP, with a library loaded into a
# real redis-server and published by kvwatch --once: shapes field by field, and
# the bad requests (invalid JSON, wrong types, missing path, huge bodies, ".."
# and encoded traversal, wrong methods and content types), each answered with
# {"error": "..."} and the right status; the streamed listings byte for byte as
# the unstreamed implementation sent them; metadata from the store and from the
# snapshot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apid_lib.sh"

apid_setup

# ---- health and stats ----
for p in /health /api/health /api/fuse/health; do
	call 200 "GET $p" GET "$p"
	fields "$p" .status ok .kvConnection connected
	expect_match "$(jb .timestamp)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' "$p: timestamp"
done

call 200 "GET /api/fuse/stats" GET /api/fuse/stats
# Directories: root, Movies, Inception (2010), TV, Show, Season 01, Other.
fields stats .totalFiles 3 .totalDirectories 7 .totalSize $((${#INCEPTION_BYTES} + 2000 + 7)) \
	.categories '{"Movies":1,"Other":1,"TV":1}' .kvConnection connected .fuseMount unmounted \
	.generation 1 .skipped 1 .hidden 1 '.skipReasons[0].reason' "no filePath" \
	'.hiddenByRule[0].rule' hide-samples .kvLeader "redis://127.0.0.1:$REDIS_PORT/0" \
	.removalHeld false
expect_match "$(jb .lastSync)" '^20[0-9]{2}-' "stats: lastSync"

# ---- readdir / getattr / exists ----
call 200 "readdir /" POST /api/fuse/readdir '{"path": "/"}'
fields "readdir /" .entries '["Movies","Other","TV"]'
call 200 "readdir of a movie directory" POST /api/fuse/readdir \
	'{"path": "/Movies/Inception (2010)"}'
fields "readdir of a movie directory" .entries '["Inception.mkv"]'

call 200 "getattr of a file" POST /api/fuse/getattr "{\"path\": \"$INCEPTION\"}"
# uid and gid: the configured ones.
fields getattr .size ${#INCEPTION_BYTES} .mode file .permissions 644 .uid 0 .gid 0 \
	.mtime "2020-09-13T12:26:40.000Z" .atime "2020-09-13T12:26:40.000Z" \
	.sourcePath "$VOL/media1/Movies/Inception (2010)/Inception.mkv"
expect_match "$(jb .ctime)" '^[0-9]{4}-' "getattr: ctime"
call 200 "getattr of a directory" POST /api/fuse/getattr '{"path": "/TV"}'
fields "getattr of a directory" .mode directory .permissions 755

call 200 "exists of a file" POST /api/fuse/exists "{\"path\": \"$INCEPTION\"}"
fields "exists of a file" .exists true
call 200 "exists of a missing file" POST /api/fuse/exists '{"path": "/Movies/Nope.mkv"}'
fields "exists of a missing file" .exists false

# ---- read ----
call 200 "read: where" POST /api/fuse/read "{\"path\": \"$INCEPTION\"}"
# No webdavUrl without source_webdav_url.
fields "read: where" .sourcePath "$VOL/media1/Movies/Inception (2010)/Inception.mkv" \
	.size ${#INCEPTION_BYTES} .webdavUrl null
call 200 "read: bytes" POST /api/fuse/read \
	"{\"path\": \"$INCEPTION\", \"offset\": 10, \"length\": 5}"
fields "read: bytes" .contentEncoding base64 '.content | @base64d' abcde
call 200 "read: a length past the end" POST /api/fuse/read \
	"{\"path\": \"$INCEPTION\", \"offset\": 0, \"length\": 99999999}"
fields "read: a length past the end" '.content | @base64d' "$INCEPTION_BYTES" .eof true
call 404 "read: a source missing on disk" POST /api/fuse/read \
	'{"path": "/TV/Show/Season 01/Show - S01E02.mkv", "offset": 0, "length": 1}'

# A source that is a symlink leading out of the files volume is refused, never read.
mkdir -p "$VOL/media9/loose"
ln -s /etc/passwd "$VOL/media9/loose/clip.mkv"
call 403 "read: a source symlinked out of the volume" POST /api/fuse/read \
	'{"path": "/Other/clip.mkv", "offset": 0, "length": 7}'
grep -q root "$T/body" && fail "read: /etc/passwd leaked"
ok "read: nothing of the symlink's target leaked"

# ---- metadata (from the store: the values as written, strings) ----
call 200 "metadata" POST /api/fuse/metadata "{\"path\": \"$INCEPTION\"}"
fields metadata .hashId inception .rule movies .source store .metadata.title Inception \
	.metadata.year 2010 .metadata.filePath "media1/Movies/Inception (2010)/Inception.mkv"
call 200 "metadata from the snapshot" POST /api/fuse/metadata \
	"{\"path\": \"$INCEPTION\", \"source\": \"snapshot\"}"
fields "metadata from the snapshot" .source snapshot .metadata.size ${#INCEPTION_BYTES} \
	.metadata.mtime "2020-09-13T12:26:40.000Z"

# ---- files / directories ----
# The bytes the unstreamed implementation sent for the same library.
call 200 "files" GET /api/fuse/files
expect_eq "$(cat "$T/body")" '{"files":[{"path":"/Other/clip.mkv","name":"clip.mkv","category":"Other","mtime":null,"size":7,"hashId":"loose"},{"path":"/Movies/Inception (2010)/Inception.mkv","name":"Inception.mkv","category":"Movies","mtime":"2020-09-13T12:26:40.000Z","size":20,"hashId":"inception"},{"path":"/TV/Show/Season 01/Show - S01E02.mkv","name":"Show - S01E02.mkv","category":"TV","mtime":null,"size":2000,"hashId":"ep1"}],"total":3,"offset":0,"limit":100,"generation":1}' \
	"files: byte for byte as before"
expect_match "$(header Transfer-Encoding)" chunked "files: streamed"
call 200 "directories of q=s, a page" GET '/api/fuse/directories?q=s&offset=2&limit=3'
expect_eq "$(cat "$T/body")" '{"directories":[{"path":"/TV/Show","name":"Show","category":"TV","mtime":null,"entries":1},{"path":"/TV/Show/Season 01","name":"Season 01","category":"TV","mtime":null,"entries":1}],"total":4,"offset":2,"limit":3,"generation":1}' \
	"directories: byte for byte as before"
call 200 "files of q=INCEP" GET '/api/fuse/files?q=INCEP'
# q= is a case-insensitive substring.
fields "files of q=INCEP" .total 1 '.files[0].path' "$INCEPTION" \
	'.files[0].size' ${#INCEPTION_BYTES} '.files[0].category' Movies
call 200 "files of q=Inception%20(2010)" GET '/api/fuse/files?q=Inception%20(2010)'
fields "files: q= is percent-decoded" .total 1
call 200 "files of category=TV" GET '/api/fuse/files?category=TV'
fields "files of category=TV" '.files[0].path' "/TV/Show/Season 01/Show - S01E02.mkv"
call 200 "files: a page" GET '/api/fuse/files?offset=1&limit=1'
fields "files: a page" '.files | length' 1 .total 3
call 200 "directories of category=TV" GET '/api/fuse/directories?category=TV'
fields "directories of category=TV" '[.directories[].path]' \
	'["/TV","/TV/Show","/TV/Show/Season 01"]'
curl -s -I --max-time 5 "$URL/api/fuse/files" >"$T/head.txt" || fail "files: HEAD did not end"
expect_match "$(head -n1 "$T/head.txt")" "^HTTP/1.1 200" "files: HEAD, the headers alone"

# ---- rules ----
call 200 "rules" GET /api/fuse/rules
# The shipped defaults; what the movies rule placed, and its condition.
fields rules .source default '[.rules[] | select(.name == "movies")][0].files' 1 \
	'[.rules[] | select(.name == "movies")][0].when.and[0].property' season
call 200 "rules/variables" GET /api/fuse/rules/variables
fields variables '[.variables[].name] | index("title") != null' true
call 200 "rules/validate" POST /api/fuse/rules/validate \
	'{"rule": {"name": "films", "template": "/Films/{title} ({year})/{fileName}"},
	  "metadata": {"title": "Heat", "year": 1995, "filePath": "m/heat.mkv"}}'
fields validate .valid true .path "/Films/Heat (1995)/heat.mkv"
call 200 "validate: a broken template" POST /api/fuse/rules/validate \
	'{"rule": {"name": "bad", "template": "/Films/{title"}}'
fields "validate: a broken template" .valid false
expect_match "$(jb '.errors[0].column')" '^[0-9]+$' "validate: the error's column"
call 200 "rules/preview" POST /api/fuse/rules/preview \
	'{"rules": [{"name": "all", "template": "/All/{fileName}"}]}'
# Every file moves.
fields preview .files 3 .moved 3 \
	'[.sample[] | select(.from == "'"$INCEPTION"'")][0].to' "/All/Inception.mkv"

# ---- workers, refresh: no supervisor here ----
call 503 "workers without a supervisor" GET /api/fuse/workers
expect_match "$(jb .error)" "no supervisor" "workers: the reason"
call 503 "refresh: no supervisor to pass it on" POST /api/fuse/refresh

# ---- the dashboard ----
call 200 "the dashboard" GET /
expect_match "$(header Content-Type)" '^text/html' "dashboard: content type"
call 200 "the dashboard's script" GET /dashboard/app.js

curl -s -I "$URL/api/fuse/stats" >"$T/head.txt"
expect_match "$(head -n1 "$T/head.txt")" "^HTTP/1.1 200" "HEAD on a GET endpoint"
expect_match "$(tr -d '\r' <"$T/head.txt" | grep -i '^content-type:')" "application/json" \
	"HEAD: the same headers"

# ---- bad requests ----
call 404 "an unknown endpoint" GET /api/fuse/nope
call 405 "GET on a POST endpoint" GET /api/fuse/getattr
expect_match "$(header Allow)" "POST" "405: Allow"
call 405 "DELETE on a GET endpoint" DELETE /api/fuse/stats
expect_match "$(header Allow)" "GET" "405: Allow lists GET"
call 415 "a body that is not application/json" POST /api/fuse/readdir '{"path": "/"}' \
	text/plain
call 415 "a form body" POST /api/fuse/readdir 'path=/' application/x-www-form-urlencoded
call 400 "invalid JSON" POST /api/fuse/readdir '{"path": '
call 400 "a JSON array for a body" POST /api/fuse/readdir '["/"]'
call 400 "a missing path" POST /api/fuse/readdir '{}'
call 400 "a path of the wrong type" POST /api/fuse/readdir '{"path": 42}'
call 400 "an offset of the wrong type" POST /api/fuse/read \
	"{\"path\": \"$INCEPTION\", \"offset\": \"1\", \"length\": 2}"
call 400 "'..' above the root" POST /api/fuse/readdir '{"path": "/../../etc"}'
call 400 "'..' through a directory above the root" POST /api/fuse/getattr \
	'{"path": "/Movies/../../etc/passwd"}'
call 404 "encoded traversal is a name, not found" POST /api/fuse/getattr \
	'{"path": "/%2e%2e/%2e%2e/etc/passwd"}'
call 404 "a path outside the tree" POST /api/fuse/getattr '{"path": "/etc/passwd"}'
call 400 "encoded traversal in the URL" GET '/api/fuse/%2e%2e/stats'
call 400 "a limit that is not a number" GET '/api/fuse/files?limit=abc'
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/huge.json"
call 413 "a body over the limit" POST /api/fuse/readdir "@$T/huge.json"
call 400 "a path too long" POST /api/fuse/readdir \
	"{\"path\": \"/$(head -c 5000 /dev/zero | tr '\0' a)\"}"

python3 -c 'print("[" * 100000 + "]" * 100000)' >"$T/deep.json"
call 400 "JSON nested 100,000 deep" POST /api/fuse/readdir "@$T/deep.json"
deep=$(python3 -c 'print("{\"not\": " * 60 + "{\"property\": \"a\", \"op\": \"exists\"}" + "}" * 60)')
call 400 "a rule nested too deeply" POST /api/fuse/rules/preview \
	"{\"rules\": [{\"name\": \"x\", \"when\": $deep, \"template\": \"/a\"}]}"
call 200 "a rule with a key libconfig cannot hold" POST /api/fuse/rules/validate \
	'{"rule": {"name": "x", "template": "/a", "bad key!": 1}}'
expect_match "$(jb '.errors[0].message')" "not a valid setting name" "validate: the key named"
call 400 "q= over 1024 bytes" GET "/api/fuse/files?q=$(head -c 2000 /dev/zero | tr '\0' a)"
call 200 "q= with bytes that are not UTF-8" GET "/api/fuse/files?q=%ff%fe"
fields "q= with bytes that are not UTF-8" .total 0
call 414 "a URL with a 300-byte name" GET "/api/$(head -c 300 /dev/zero | tr '\0' a)"
req GET "/$(head -c 40000 /dev/zero | tr '\0' a)"
[ "$ST" = 414 ] || [ "$ST" = 431 ] || fail "a 40 kB URL: expected 414 or 431, got $ST"
ok "a 40 kB URL is refused"
call 404 "a path of unusual Unicode that is not there" POST /api/fuse/readdir \
	'{"path": "/Movies/\u00e9\u0301\ud83c\udfac"}'

kill -0 "$APID_PID" || fail "apid died"
ok "apid still serving"
