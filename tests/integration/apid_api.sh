#!/usr/bin/env bash
# apid: every endpoint of the REST API over HTTP, with a library loaded into a
# real redis-server and published by kvwatch --once: shapes field by field, and
# the bad requests (invalid JSON, wrong types, missing path, huge bodies, ".."
# and encoded traversal, wrong methods and content types), each answered with
# {"error": "..."} and the right status.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apid_lib.sh"

apid_setup

# ---- health and stats ----
for p in /health /api/health /api/fuse/health; do
	req GET "$p"
	expect_status 200 "GET $p"
	expect_eq "$(jb .status)" ok "$p: status"
	expect_eq "$(jb .kvConnection)" connected "$p: kvConnection"
	expect_match "$(jb .timestamp)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' "$p: timestamp"
done

req GET /api/fuse/stats
expect_status 200 "GET /api/fuse/stats"
expect_eq "$(jb .totalFiles)" 3 "stats: totalFiles"
expect_eq "$(jb .totalDirectories)" 7 "stats: totalDirectories (root, Movies, Inception (2010), TV, Show, Season 01, Other)"
expect_eq "$(jb .totalSize)" $((${#INCEPTION_BYTES} + 2000 + 7)) "stats: totalSize"
expect_eq "$(jb -c .categories)" '{"Movies":1,"Other":1,"TV":1}' "stats: categories"
expect_eq "$(jb .kvConnection)" connected "stats: kvConnection"
expect_eq "$(jb .fuseMount)" unmounted "stats: fuseMount"
expect_eq "$(jb .generation)" 1 "stats: generation"
expect_match "$(jb .lastSync)" '^20[0-9]{2}-' "stats: lastSync"
expect_eq "$(jb .skipped)" 1 "stats: skipped"
expect_eq "$(jb .hidden)" 1 "stats: hidden"
expect_eq "$(jb '.skipReasons[0].reason')" "no filePath" "stats: skip reason"
expect_eq "$(jb '.hiddenByRule[0].rule')" "hide-samples" "stats: hidden by rule"
expect_eq "$(jb .kvLeader)" "redis://127.0.0.1:$REDIS_PORT/0" "stats: the leader"
expect_eq "$(jb .removalHeld)" false "stats: no removal held"

# ---- readdir / getattr / exists ----
req POST /api/fuse/readdir '{"path": "/"}'
expect_status 200 "readdir /"
expect_eq "$(jb -c .entries)" '["Movies","Other","TV"]' "readdir /: entries"
req POST /api/fuse/readdir '{"path": "/Movies/Inception (2010)"}'
expect_eq "$(jb -c .entries)" '["Inception.mkv"]' "readdir of a movie directory"

req POST /api/fuse/getattr "{\"path\": \"$INCEPTION\"}"
expect_status 200 "getattr of a file"
expect_eq "$(jb .size)" ${#INCEPTION_BYTES} "getattr: size"
expect_eq "$(jb .mode)" file "getattr: mode"
expect_eq "$(jb .permissions)" 644 "getattr: permissions"
expect_eq "$(jb .uid)" 0 "getattr: uid (the configured one)"
expect_eq "$(jb .gid)" 0 "getattr: gid"
expect_eq "$(jb .mtime)" "2020-09-13T12:26:40.000Z" "getattr: mtime"
expect_eq "$(jb .atime)" "2020-09-13T12:26:40.000Z" "getattr: atime"
expect_match "$(jb .ctime)" '^[0-9]{4}-' "getattr: ctime"
expect_eq "$(jb .sourcePath)" "$VOL/media1/Movies/Inception (2010)/Inception.mkv" "getattr: sourcePath"
req POST /api/fuse/getattr '{"path": "/TV"}'
expect_eq "$(jb .mode)" directory "getattr of a directory: mode"
expect_eq "$(jb .permissions)" 755 "getattr of a directory: permissions"

req POST /api/fuse/exists "{\"path\": \"$INCEPTION\"}"
expect_eq "$(jb .exists)" true "exists: a file"
req POST /api/fuse/exists '{"path": "/Movies/Nope.mkv"}'
expect_status 200 "exists of a missing file"
expect_eq "$(jb .exists)" false "exists: a missing file"

# ---- read ----
req POST /api/fuse/read "{\"path\": \"$INCEPTION\"}"
expect_status 200 "read: where"
expect_eq "$(jb .sourcePath)" "$VOL/media1/Movies/Inception (2010)/Inception.mkv" "read: sourcePath"
expect_eq "$(jb .size)" ${#INCEPTION_BYTES} "read: size"
expect_eq "$(jb .webdavUrl)" null "read: no webdavUrl without source_webdav_url"
req POST /api/fuse/read "{\"path\": \"$INCEPTION\", \"offset\": 10, \"length\": 5}"
expect_status 200 "read: bytes"
expect_eq "$(jb .contentEncoding)" base64 "read: contentEncoding"
expect_eq "$(jb .content | base64 -d)" abcde "read: the bytes at 10..15"
req POST /api/fuse/read "{\"path\": \"$INCEPTION\", \"offset\": 0, \"length\": 99999999}"
expect_eq "$(jb .content | base64 -d)" "$INCEPTION_BYTES" "read: a length past the end"
expect_eq "$(jb .eof)" true "read: eof"
req POST /api/fuse/read '{"path": "/TV/Show/Season 01/Show - S01E02.mkv", "offset": 0, "length": 1}'
expect_status 404 "read: a source missing on disk"

# A source that is a symlink leading out of the files volume is refused, never read.
mkdir -p "$VOL/media9/loose"
ln -s /etc/passwd "$VOL/media9/loose/clip.mkv"
req POST /api/fuse/read '{"path": "/Other/clip.mkv", "offset": 0, "length": 7}'
expect_status 403 "read: a source symlinked out of the volume"
grep -q root "$T/body" && fail "read: /etc/passwd leaked"
ok "read: nothing of the symlink's target leaked"

# ---- metadata ----
req POST /api/fuse/metadata "{\"path\": \"$INCEPTION\"}"
expect_status 200 "metadata"
expect_eq "$(jb .hashId)" inception "metadata: hashId"
expect_eq "$(jb .rule)" movies "metadata: rule"
expect_eq "$(jb .metadata.title)" Inception "metadata: title"
expect_eq "$(jb .metadata.year)" 2010 "metadata: year"
expect_eq "$(jb .metadata.filePath)" "media1/Movies/Inception (2010)/Inception.mkv" "metadata: filePath"

# ---- files / directories ----
req GET /api/fuse/files
expect_status 200 "files"
expect_eq "$(jb .total)" 3 "files: total"
expect_eq "$(jb '.files | length')" 3 "files: one page"
req GET '/api/fuse/files?q=INCEP'
expect_eq "$(jb .total)" 1 "files: q= is a case-insensitive substring"
expect_eq "$(jb '.files[0].path')" "$INCEPTION" "files: the match's path"
expect_eq "$(jb '.files[0].size')" ${#INCEPTION_BYTES} "files: the match's size"
expect_eq "$(jb '.files[0].category')" Movies "files: the match's category"
req GET '/api/fuse/files?q=Inception%20(2010)'
expect_eq "$(jb .total)" 1 "files: q= is percent-decoded"
req GET '/api/fuse/files?category=TV'
expect_eq "$(jb -r '.files[0].path')" "/TV/Show/Season 01/Show - S01E02.mkv" "files: category="
req GET '/api/fuse/files?offset=1&limit=1'
expect_eq "$(jb '.files | length')" 1 "files: limit="
expect_eq "$(jb .total)" 3 "files: total with a page"
req GET '/api/fuse/directories?category=TV'
expect_eq "$(jb -c '[.directories[].path]')" '["/TV","/TV/Show","/TV/Show/Season 01"]' "directories"

# ---- rules ----
req GET /api/fuse/rules
expect_status 200 "rules"
expect_eq "$(jb .source)" default "rules: the shipped defaults"
expect_eq "$(jb '[.rules[] | select(.name == "movies")][0].files')" 1 "rules: files the movies rule placed"
expect_eq "$(jb '[.rules[] | select(.name == "movies")][0].when.and[0].property')" season \
	"rules: the movies rule's condition"
req GET /api/fuse/rules/variables
expect_status 200 "rules/variables"
expect_eq "$(jb '[.variables[].name] | index("title") != null')" true "variables: title"
req POST /api/fuse/rules/validate \
	'{"rule": {"name": "films", "template": "/Films/{title} ({year})/{fileName}"},
	  "metadata": {"title": "Heat", "year": 1995, "filePath": "m/heat.mkv"}}'
expect_status 200 "rules/validate"
expect_eq "$(jb .valid)" true "validate: valid"
expect_eq "$(jb .path)" "/Films/Heat (1995)/heat.mkv" "validate: the rendered path"
req POST /api/fuse/rules/validate '{"rule": {"name": "bad", "template": "/Films/{title"}}'
expect_eq "$(jb .valid)" false "validate: a broken template"
expect_match "$(jb '.errors[0].column')" '^[0-9]+$' "validate: the error's column"
req POST /api/fuse/rules/preview \
	'{"rules": [{"name": "all", "template": "/All/{fileName}"}]}'
expect_status 200 "rules/preview"
expect_eq "$(jb .files)" 3 "preview: files"
expect_eq "$(jb .moved)" 3 "preview: every file moves"
expect_eq "$(jb '[.sample[] | select(.from == "'"$INCEPTION"'")][0].to')" "/All/Inception.mkv" \
	"preview: old -> new"

# ---- workers, refresh: no supervisor here ----
req GET /api/fuse/workers
expect_status 503 "workers without a supervisor"
expect_match "$(jb .error)" "no supervisor" "workers: the reason"
req POST /api/fuse/refresh
expect_status 503 "refresh: no supervisor to pass it on"

# ---- the dashboard ----
req GET /
expect_status 200 "the dashboard"
expect_match "$(header Content-Type)" '^text/html' "dashboard: content type"
req GET /dashboard/app.js
expect_status 200 "the dashboard's script"

curl -s -I "$URL/api/fuse/stats" >"$T/head.txt"
expect_match "$(head -n1 "$T/head.txt")" "^HTTP/1.1 200" "HEAD on a GET endpoint"
expect_match "$(tr -d '\r' <"$T/head.txt" | grep -i '^content-type:')" "application/json" \
	"HEAD: the same headers"

# ---- bad requests ----
req GET /api/fuse/nope
expect_status 404 "an unknown endpoint"
req GET /api/fuse/getattr
expect_status 405 "GET on a POST endpoint"
expect_match "$(header Allow)" "POST" "405: Allow"
req DELETE /api/fuse/stats
expect_status 405 "DELETE on a GET endpoint"
expect_match "$(header Allow)" "GET" "405: Allow lists GET"
req POST /api/fuse/readdir '{"path": "/"}' text/plain
expect_status 415 "a body that is not application/json"
req POST /api/fuse/readdir 'path=/' application/x-www-form-urlencoded
expect_status 415 "a form body"
req POST /api/fuse/readdir '{"path": '
expect_status 400 "invalid JSON"
req POST /api/fuse/readdir '["/"]'
expect_status 400 "a JSON array for a body"
req POST /api/fuse/readdir '{}'
expect_status 400 "a missing path"
req POST /api/fuse/readdir '{"path": 42}'
expect_status 400 "a path of the wrong type"
req POST /api/fuse/read "{\"path\": \"$INCEPTION\", \"offset\": \"1\", \"length\": 2}"
expect_status 400 "an offset of the wrong type"
req POST /api/fuse/readdir '{"path": "/../../etc"}'
expect_status 400 "'..' above the root"
req POST /api/fuse/getattr '{"path": "/Movies/../../etc/passwd"}'
expect_status 400 "'..' through a directory above the root"
req POST /api/fuse/getattr '{"path": "/%2e%2e/%2e%2e/etc/passwd"}'
expect_status 404 "encoded traversal is a name, not found"
req POST /api/fuse/getattr '{"path": "/etc/passwd"}'
expect_status 404 "a path outside the tree"
req GET '/api/fuse/%2e%2e/stats'
expect_status 400 "encoded traversal in the URL"
req GET '/api/fuse/files?limit=abc'
expect_status 400 "a limit that is not a number"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/huge.json"
req POST /api/fuse/readdir "@$T/huge.json"
expect_status 413 "a body over the limit"
req POST /api/fuse/readdir "{\"path\": \"/$(head -c 5000 /dev/zero | tr '\0' a)\"}"
expect_status 400 "a path too long"

python3 -c 'print("[" * 100000 + "]" * 100000)' >"$T/deep.json"
req POST /api/fuse/readdir "@$T/deep.json"
expect_status 400 "JSON nested 100,000 deep"
req POST /api/fuse/rules/preview \
	"{\"rules\": [{\"name\": \"x\", \"when\": $(python3 -c 'print("{\"not\": " * 60 + "{\"property\": \"a\", \"op\": \"exists\"}" + "}" * 60)'), \"template\": \"/a\"}]}"
expect_status 400 "a rule nested too deeply"
req POST /api/fuse/rules/validate '{"rule": {"name": "x", "template": "/a", "bad key!": 1}}'
expect_status 200 "a rule with a key libconfig cannot hold"
expect_match "$(jb '.errors[0].message')" "not a valid setting name" "validate: the key named"
req GET "/api/fuse/files?q=$(head -c 2000 /dev/zero | tr '\0' a)"
expect_status 400 "q= over 1024 bytes"
req GET "/api/fuse/files?q=%ff%fe"
expect_status 200 "q= with bytes that are not UTF-8"
expect_eq "$(jb .total)" 0 "q= with bytes that are not UTF-8 matches nothing"
req GET "/api/$(head -c 300 /dev/zero | tr '\0' a)"
expect_status 414 "a URL with a 300-byte name"
req GET "/$(head -c 40000 /dev/zero | tr '\0' a)"
[ "$ST" = 414 ] || [ "$ST" = 431 ] || fail "a 40 kB URL: expected 414 or 431, got $ST"
ok "a 40 kB URL is refused"
req POST /api/fuse/readdir '{"path": "/Movies/\u00e9\u0301\ud83c\udfac"}'
expect_status 404 "a path of unusual Unicode that is not there"

kill -0 "$APID_PID" || fail "apid died"
ok "apid still serving"
