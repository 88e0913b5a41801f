#!/bin/bash
# davd_tls: with webdav.tls_cert and webdav.tls_key the share speaks HTTPS
# (libmicrohttpd's GnuTLS): PROPFIND and GET work over TLS, plain HTTP is not
# answered; a missing key file or only one of the two keys is a configuration
# error (exit 1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"
need openssl

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-keyout "$T/key.pem" -out "$T/cert.pem" >"$T/openssl.log" 2>&1 || skip "openssl cannot make a certificate"
davd_config extra="tls_cert = \"$T/cert.pem\"; tls_key = \"$T/key.pem\";"
make_media
publish
start_davd
grep -q '(HTTPS)' "$T/davd.log" || fail "davd does not say it serves HTTPS"
ok "davd serves HTTPS"
S="https://127.0.0.1:$DAVD_PORT/webdav"
expect_eq "$(dav --cacert "$T/cert.pem" -o /dev/null -w '%{http_code}' -X PROPFIND -H 'Depth: 1' "$S/Movies/")" 207 \
	"PROPFIND over TLS"
expect_eq "$(dav --cacert "$T/cert.pem" "$S/Movies/Big%20One%20(2020)/Big%20One.mkv" | md5sum)" \
	"$(md5sum <"$T/files/m/big.mkv")" "GET over TLS: the source's bytes"
expect_eq "$(dav --cacert "$T/cert.pem" -r 100-199 "$S/Movies/Big%20One%20(2020)/Big%20One.mkv" | md5sum)" \
	"$(dd if="$T/files/m/big.mkv" iflag=skip_bytes,count_bytes skip=100 count=100 2>/dev/null | md5sum)" \
	"a Range over TLS"
expect_eq "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -u "$DAV_USER:$DAV_PASS" "$URL/")" 000 "plain HTTP gets no answer"
stop_davd

davd_config extra="tls_cert = \"$T/cert.pem\"; tls_key = \"$T/missing.pem\";"
"$BIN/meta-fuse-davd" -c "$T/davd.conf" >"$T/bad.log" 2>&1
expect_eq "$?" 1 "a missing key file: exit 1"
davd_config extra="tls_cert = \"$T/cert.pem\";"
"$BIN/meta-fuse-davd" -c "$T/davd.conf" >"$T/bad2.log" 2>&1
expect_eq "$?" 1 "a certificate without a key: exit 1"
expect_match "$(cat "$T/bad2.log")" 'go together' "... saying both are needed"
davd_config extra="tls_cert = \"$T/key.pem\"; tls_key = \"$T/cert.pem\";"
"$BIN/meta-fuse-davd" -c "$T/davd.conf" >"$T/bad3.log" 2>&1
expect_eq "$?" 1 "certificate and key swapped: exit 1"
check_sanitizer
