#!/bin/bash
# packaging_nginx: packaging/nginx/meta-fuse.conf in front of the servers, on one
# port: `/api/fuse/health`, `/` (the dashboard) and a Range GET through
# `/webdav/...` answer as the servers behind do; a 24 MiB download read slowly
# streams through without nginx spooling it to a temporary file; the timeouts
# that could cut a long film are hours, not nginx's 60 s defaults.
#
# The servers are the suite as the service runs it: `meta-fuse run` with kvwatch
# (publishing the film from a private Redis), davd and apid; SIGTERM ends it
# with nothing left.  When those are not built (or no redis-server), the routes
# are checked against a plain nginx serving the same files under /webdav and a
# health answer (said so in the output): that checks the front's routing and
# streaming, not the workers.
. "$(dirname "$0")/lib.sh"
need nginx curl cmp jq
FRONT_TEMPLATE="$MF_SOURCE_DIR/packaging/nginx/meta-fuse.conf"
API_PORT=$(free_port)
DAV_PORT=$(free_port)
FRONT_PORT=$(free_port)
USER_PW="alice:pw-$RANDOM$RANDOM"
# nginx started as root runs its workers as nobody, who cannot enter $T (0700).
NGINX_G="daemon off;"
[ "$(id -u)" -ne 0 ] || NGINX_G="daemon off; user root root;"

# --- the files: one film of 24 MiB in the library ---
mkdir -p "$T/files/media1/Movies/Film (2010)" "$T/run" "$T/nginx"
FILM_SRC="$T/files/media1/Movies/Film (2010)/Film.mkv"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$FILM_SRC"
FILM_URL="/webdav/Movies/Film%20(2010)/Film.mkv"

SUITE=(meta-fuse meta-fuse-kvwatch meta-fuse-davd meta-fuse-apid)
suite_built=1
for b in "${SUITE[@]}"; do [ -x "$BIN/$b" ] || suite_built=0; done
if [ "$suite_built" = 1 ] && command -v redis-server >/dev/null; then
	# The suite as the service runs it: `meta-fuse run` with kvwatch publishing
	# the film from a private Redis, davd and apid serving it (no mount: the
	# front does not reach fused).
	MODE=suite
	start_redis
	for kv in "filePath=media1/Movies/Film (2010)/Film.mkv" title=Film year=2010 \
		"size=$(stat -c %s "$FILM_SRC")" "mtime=$(stat -c %Y "$FILM_SRC")000"; do
		rcli SET "meta-sort:file:film:${kv%%=*}" "${kv#*=}" >/dev/null
	done
	unset REDIS_URL META_FUSE_CONFIG META_FUSE_RUNTIME_DIR PUID PGID META_FUSE_WRITER_USER \
		NOTIFY_SOCKET WEBDAV_USERNAME WEBDAV_PASSWORD
	cat >"$T/mf.conf" <<EOC
runtime_dir = "$T/run";
state_dir = "$T/state";
files_volume = "$T/files";
uid = $(id -u);
gid = $(id -g);
writer_user = "$(id -u)";
kv = { redis_url = "redis://127.0.0.1:$REDIS_PORT"; };
fuse = { enabled = false; };
webdav = { listen = "127.0.0.1:$DAV_PORT"; username = "${USER_PW%%:*}"; password = "${USER_PW#*:}"; };
api = { listen = "127.0.0.1:$API_PORT"; };
EOC
	start_bg suite "$BIN/meta-fuse" run -c "$T/mf.conf"
	SUITE_PID=$LAST_PID
	suite_running() {
		[ "$("$BIN/meta-fuse" status --runtime-dir "$T/run" --json 2>/dev/null | jq -r .state)" = running ]
	}
	wait_for 60 suite_running || fail "meta-fuse run did not get ready: $(tail -n 5 "$T/suite.log")"
	ok "meta-fuse run is up: kvwatch, davd and apid"
else
	MODE=stand-in
	echo "note: the suite (${SUITE[*]}) is not built or no redis-server: the front is checked against a" \
		"plain nginx serving the files (routing and streaming only, not the workers)"
	mkdir -p "$T/backend/webdav/Movies/Film (2010)" "$T/backend/ui"
	ln -s "$FILM_SRC" "$T/backend/webdav/Movies/Film (2010)/Film.mkv"
	echo '<!doctype html><title>meta-fuse</title>' >"$T/backend/ui/index.html"
	cat >"$T/backend.conf" <<EOC
pid $T/backend.pid;
error_log stderr;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $T/nginx/b-body;
	proxy_temp_path $T/nginx/b-proxy;
	fastcgi_temp_path $T/nginx/b-fcgi;
	uwsgi_temp_path $T/nginx/b-uwsgi;
	scgi_temp_path $T/nginx/b-scgi;
	server {
		listen 127.0.0.1:$DAV_PORT;
		location /webdav/ { root $T/backend; auth_basic dav; auth_basic_user_file $T/htpasswd; }
	}
	server {
		listen 127.0.0.1:$API_PORT;
		location = /api/fuse/health { default_type application/json; return 200 '{"status":"healthy"}'; }
		location / { root $T/backend/ui; }
	}
}
EOC
	printf '%s:%s\n' "${USER_PW%%:*}" "$(openssl passwd -apr1 "${USER_PW#*:}" 2>/dev/null ||
		perl -e 'print crypt($ARGV[0], "\$6\$saltsalt\$")' "${USER_PW#*:}")" >"$T/htpasswd"
	start_bg backend nginx -c "$T/backend.conf" -e stderr -g "$NGINX_G"
fi
wait_for 20 curl -fsS -o /dev/null "http://127.0.0.1:$API_PORT/api/fuse/health" ||
	fail "the API ($MODE) did not answer on port $API_PORT"

# --- the front, adapted to the test's ports as the container's entrypoint does ---
sed -e "s/^\(\t*\)listen 80;/\1listen 127.0.0.1:$FRONT_PORT;/" \
	-e "s/127\.0\.0\.1:3000;/127.0.0.1:$API_PORT;/" \
	-e "s/127\.0\.0\.1:8080;/127.0.0.1:$DAV_PORT;/" "$FRONT_TEMPLATE" >"$T/front.conf"
mkdir -p "$T/front"
start_bg front nginx -p "$T/front/" -c "$T/front.conf" -e stderr -g "$NGINX_G"
wait_for 10 curl -sS -o /dev/null "http://127.0.0.1:$FRONT_PORT/" || fail "the front did not start"
F="http://127.0.0.1:$FRONT_PORT"

got=$(curl -sS -o "$T/health.json" -w '%{http_code}' "$F/api/fuse/health")
expect_eq "$got" 200 "/api/fuse/health through the front ($MODE)"
expect_match "$(cat "$T/health.json")" '"status"' "the health answer is the API's JSON"
got=$(curl -sS -o "$T/index.html" -w '%{http_code} %{content_type}' "$F/")
expect_match "$got" '^200 text/html' "/ through the front is the dashboard"

got=$(curl -sS -o /dev/null -w '%{http_code}' "$F$FILM_URL")
expect_eq "$got" 401 "the share asks for credentials through the front"
got=$(curl -sS -u "$USER_PW" -r 1000000-1999999 -o "$T/range.bin" -w '%{http_code} %{size_download}' "$F$FILM_URL")
expect_eq "$got" "206 1000000" "a Range GET through /webdav answers 206 with the range"
cmp -s "$T/range.bin" <(tail -c +1000001 "$FILM_SRC" | head -c 1000000) ||
	fail "the range's bytes differ from the source"
ok "the range holds the source's bytes"
got=$(curl -sS -u "$USER_PW" -r 0-99 -H 'If-Range: "no-such-etag"' -o /dev/null \
	-w '%{http_code}' "$F$FILM_URL")
expect_eq "$got" 200 "If-Range reaches the server (a stale validator gets the whole file)"

# A slow reader (8 MiB/s, 3 s): nginx passes the bytes on as the reader takes
# them, with nothing written to a temporary file.
curl -sS -u "$USER_PW" --limit-rate 8M -o "$T/film.out" "$F$FILM_URL" ||
	fail "the slow download failed"
cmp -s "$T/film.out" "$FILM_SRC" || fail "the streamed film differs from the source"
ok "a 24 MiB film streams through whole"
# (nginx says "an upstream response is buffered to a temporary file" when it does)
spooled=$(grep -c 'buffered to a temporary file' "$T/front.log")
expect_eq "$spooled" 0 "nothing was spooled to nginx's temporary files"

# The timeouts between two reads or writes, as nginx itself reads them.
nginx -T -p "$T/front/" -c "$T/front.conf" -e stderr 2>/dev/null >"$T/front-T.conf"
for t in proxy_read_timeout proxy_send_timeout send_timeout; do
	v=$(sed -n "/location \/webdav/,/}/s/^\s*$t \(.*\);/\1/p" "$T/front-T.conf")
	expect_eq "$v" 12h "/webdav's $t"
done
v=$(sed -n '/location \/webdav/,/}/s/^\s*proxy_buffering \(.*\);/\1/p' "$T/front-T.conf")
expect_eq "$v" off "/webdav is not buffered"

# As a supervised program it runs unprivileged: everything it writes is under
# its prefix.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$T/unpriv"
	chmod 755 "$T"
	chown nobody "$T/unpriv"
	chmod 644 "$T/front.conf"
	setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
		nginx -t -q -p "$T/unpriv/" -c "$T/front.conf" -e stderr >"$T/unpriv.log" 2>&1 ||
		fail "nginx as nobody refuses the front: $(cat "$T/unpriv.log")"
	[ -d "$T/unpriv/proxy" ] || fail "nginx did not make its temporary directories under its prefix"
	ok "the front starts unprivileged (as nobody), its files under its prefix"
fi

if [ "$MODE" = suite ]; then
	kill -TERM "$SUITE_PID"
	wait "$SUITE_PID"
	expect_eq "$?" 0 "meta-fuse run exits 0 on SIGTERM"
	left=$(pgrep -f -- "-c $T/mf.conf" || true)
	expect_eq "$left" "" "no worker of the suite is left"
fi
