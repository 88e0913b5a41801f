#!/bin/bash
# packaging_entrypoint: the container's entrypoint turns the original service's
# environment variables into the configuration docs/packaging.md promises.
# The written file alone (checked with an empty environment, as the supervisor's
# workers read it) gives every key its variable's value; strings with quotes and
# backslashes survive; a bad value is refused with exit 1 before anything runs;
# without WEBDAV_PASSWORD a random password is made once, printed, kept 0600 and
# matched by the hash in the configuration; nginx's ports follow the variables.
. "$(dirname "$0")/lib.sh"

need perl nginx
[ -x "$BIN/meta-fuse" ] || skip "meta-fuse is not built"
EP="$MF_SOURCE_DIR/packaging/container/entrypoint.sh"
export PATH="$BIN:$PATH"
export MF_ETC="$T/etc" META_FUSE_LIBEXEC="$MF_SOURCE_DIR/packaging"
export MF_NGINX_TEMPLATE="$MF_SOURCE_DIR/packaging/nginx/meta-fuse.conf"
export MF_NGINX_PREFIX="$T/nginx"
unset META_FUSE_CONFIG

# effective KEY: the value check-config reports for KEY with nothing in the environment.
effective() {
	env -i PATH="$PATH" "$BIN/meta-fuse" check-config -c "$MF_ETC/container.conf" 2>/dev/null |
		sed -n "s/^$1 = \(.*\)  # \(.*\)\$/\1 (\2)/p"
}

# --- every variable of the original service ---
env PUID=1234 PGID=2345 FILES_VOLUME=/srv/media META_SORT_WEBDAV_URL=http://sort:8080/dav \
	META_CORE_PATH=/srv/meta-core REDIS_URL=redis://10.0.1.50:6380/2 REDIS_PREFIX=file: \
	VFS_REFRESH_INTERVAL=45000 FUSE_MOUNT_POINT=/srv/virtual FUSE_FILE_MODE=640 \
	FUSE_DIR_MODE=750 FUSE_ALLOW_OTHER=No WEBDAV_PORT=9091 WEBDAV_USERNAME=alice \
	WEBDAV_PASSWORD='s3"cr\et' WEBDAV_READONLY=yes API_HOST=127.0.0.1 API_PORT=3301 \
	NGINX_PORT=8088 "$EP" check-config >"$T/ep1.log" 2>&1 || fail "entrypoint refused: $(tail -n 3 "$T/ep1.log")"
while read -r key want; do
	expect_eq "$(effective "$key")" "$want (file)" "$key from the environment"
done <<'TABLE'
uid 1234
gid 2345
files_volume "/srv/media"
source_webdav_url "http://sort:8080/dav"
kv.meta_core_path "/srv/meta-core"
kv.redis_url "redis://10.0.1.50:6380/2"
kv.prefix "file:"
kv.refresh_interval_ms 45000
fuse.mount_point "/srv/virtual"
fuse.file_mode "0640"
fuse.dir_mode "0750"
fuse.allow_other false
webdav.listen "0.0.0.0:9091"
webdav.username "alice"
webdav.password "********"
webdav.readonly true
api.listen "127.0.0.1:3301"
TABLE
got=$(grep -F 'password = ' "$MF_ETC/container.conf")
expect_eq "$got" '	password = "s3\"cr\\et";' "a password with a quote and a backslash is escaped"
got=$(grep -c . "$MF_ETC/webdav-password" 2>/dev/null || echo none)
expect_eq "$got" none "no password is generated when WEBDAV_PASSWORD is given"
got=$(effective 'programs\.nginx')
expect_eq "$got" "[ \"$(command -v nginx)\", \"-p\", \"$T/nginx/\", \"-c\", \"$MF_ETC/nginx.conf\", \"-e\", \"stderr\", \"-g\", \"daemon off;\" ] (file)" \
	"nginx runs as a supervised program"
got=$(grep -E '^\s*(listen|server) [^{]' "$MF_ETC/nginx.conf" | tr -s '\t ' ' ' | tr '\n' '|')
expect_eq "$got" " server 127.0.0.1:3301;| server 127.0.0.1:9091;| listen 8088;|" \
	"nginx listens on NGINX_PORT and proxies to API_PORT and WEBDAV_PORT"
nginx -t -q -p "$T/nginx/" -c "$MF_ETC/nginx.conf" -e stderr >"$T/nginx-t.log" 2>&1 ||
	fail "nginx refuses the adapted configuration: $(cat "$T/nginx-t.log")"
ok "nginx accepts the adapted configuration"

# --- PUID=0: nginx as a root without capabilities, as the supervisor runs it ---
NPORT=$(free_port)
# (the API and WebDAV ports are free ones: nothing answers behind nginx)
env PUID=0 PGID=0 NGINX_PORT="$NPORT" API_PORT="$(free_port)" WEBDAV_PORT="$(free_port)" \
	WEBDAV_PASSWORD=pw "$EP" check-config >"$T/ep0.log" 2>&1 ||
	fail "entrypoint refused PUID=0: $(tail -n 3 "$T/ep0.log")"
got=$(effective 'programs\.nginx')
expect_match "$got" '"-g", "daemon off; user root root; master_process off;" \]' \
	"PUID=0: nginx runs as one process as root"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	g=$(sed -n 's/.*"-g", "\([^"]*\)".*/\1/p' <<<"$got")
	# (a prefix of its own: the one above holds directories nginx -t gave to nobody)
	mkdir -p "$T/nginx0"
	start_bg nginx0 setpriv --bounding-set=-all --inh-caps=-all --no-new-privs \
		nginx -p "$T/nginx0/" -c "$MF_ETC/nginx.conf" -e stderr -g "$g"
	# (502: nginx answers, the API behind it is not running)
	wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$NPORT/api/fuse/health" ||
		fail "nginx as a capability-less root does not start: $(tail -n 3 "$T/nginx0.log")"
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NPORT/api/fuse/health")" 502 \
		"nginx as a capability-less root answers (the API behind it is down)"
	kill -TERM "$LAST_PID"
fi

# --- the defaults: the original's, and a generated password ---
rm -rf "$MF_ETC"
env -u WEBDAV_PASSWORD "$EP" check-config >"$T/ep2.log" 2>&1 || fail "entrypoint refused defaults: $(tail -n 3 "$T/ep2.log")"
while read -r key want; do
	expect_eq "$(effective "$key")" "$want (file)" "$key default"
done <<'TABLE'
uid 1000
gid 1000
files_volume "/files"
kv.meta_core_path "/meta-core"
kv.redis_url ""
kv.prefix "meta-sort:"
fuse.mount_point "/mnt/virtual"
fuse.allow_other true
webdav.listen "0.0.0.0:8080"
webdav.username "metamesh"
api.listen "0.0.0.0:3000"
TABLE
pw=$(cat "$MF_ETC/webdav-password")
expect_match "$pw" '^[A-Za-z0-9_-]{24}$' "a random password is generated"
expect_eq "$(stat -c %a "$MF_ETC/webdav-password")" 600 "the password file is root's alone"
grep -qF "random password $pw" "$T/ep2.log" || fail "the generated password is not in the log"
ok "the generated password is printed in the log"
hash=$(sed -n 's/^password = "\(.*\)";$/\1/p' "$MF_ETC/webdav-credentials.conf")
got=$(MF_PW=$pw MF_HASH=$hash perl -e 'print crypt($ENV{MF_PW}, $ENV{MF_HASH}) eq $ENV{MF_HASH} ? "match" : "differ"')
expect_eq "$got" match "the configuration holds the generated password's SHA-512 hash"
expect_match "$hash" '^\$6\$' "the hash is SHA-512 crypt"
env -u WEBDAV_PASSWORD "$EP" check-config >"$T/ep3.log" 2>&1 || fail "second start refused"
expect_eq "$(cat "$MF_ETC/webdav-password")" "$pw" "a restart keeps the generated password"
env -u WEBDAV_PASSWORD WEBDAV_USERNAME=bob "$EP" check-config >"$T/ep4.log" 2>&1 || fail "new user refused"
[ "$(cat "$MF_ETC/webdav-password")" != "$pw" ] || fail "a new WEBDAV_USERNAME kept the old password"
expect_eq "$(effective webdav.username)" '"bob" (file)' "a new WEBDAV_USERNAME gets a password of its own"

# --- bad values: exit 1, one line naming the variable, nothing started ---
# (the message names the variable, or the key it wrote into the file)
while IFS='|' read -r var value key; do
	rc=0
	env "$var=$value" "$EP" check-config >"$T/bad.log" 2>&1 || rc=$?
	expect_eq "$rc" 1 "$var=\"$value\" is refused with exit 1"
	grep -qE "$var|$key" "$T/bad.log" || fail "the message names neither $var nor $key: $(cat "$T/bad.log")"
done <<'TABLE'
PUID|abc|uid
PGID|-1|gid
API_PORT|80a|api.listen
FUSE_ALLOW_OTHER|maybe|fuse.allow_other
WEBDAV_READONLY|false|webdav.readonly
FUSE_FILE_MODE|8x4|fuse.file_mode
REDIS_URL|http://example.org|kv.redis_url
FILES_VOLUME|relative/path|files_volume
VFS_REFRESH_INTERVAL|5|kv.refresh_interval_ms
TABLE
rc=0
env FILES_VOLUME=$'/a\nb' "$EP" check-config >"$T/bad.log" 2>&1 || rc=$?
expect_eq "$rc" 1 "a value with a newline is refused"
rc=0
env WEBDAV_PASSWORD="$(printf 'a\tb')" "$EP" check-config >"$T/bad.log" 2>&1 || rc=$?
expect_eq "$rc" 1 "a password with a control character is refused"
rc=0
env WEBDAV_USERNAME=$'al\tice' WEBDAV_PASSWORD=fine "$EP" check-config >"$T/bad.log" 2>&1 || rc=$?
expect_eq "$rc" 1 "a user name with a control character is refused (beside a good password)"
expect_match "$(cat "$T/bad.log")" 'WEBDAV_USERNAME: control characters' "the message names WEBDAV_USERNAME"
[ ! -e "$MF_ETC/container.conf.new" ] || fail "a refused start left a half-written configuration"
ok "a refused start writes no configuration"

# --- a configuration of one's own, and other commands ---
printf 'files_volume = "/mine";\n' >"$T/mine.conf"
META_FUSE_CONFIG="$T/mine.conf" "$EP" check-config >"$T/mine.log" 2>&1 || fail "own config refused"
grep -q '^files_volume = "/mine"  # file' "$T/mine.log" || fail "META_FUSE_CONFIG was not used"
ok "META_FUSE_CONFIG naming a file is used as it is"
got=$("$EP" sh -c 'echo "$0 $META_FUSE_CONFIG"' x 2>/dev/null)
expect_eq "$got" "x " "a command that is not meta-fuse's is executed as it is"
