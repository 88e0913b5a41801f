#!/bin/bash
# pkg_layout: what the .deb and the .rpm hold.  Every program built in this tree,
# every man page, rule preset and hook example, the units, sysusers.d and
# tmpfiles.d entries are there with their modes, and nothing outside meta-fuse's
# own places; everything under /etc/meta-fuse is a conffile (%config in the RPM);
# the installed configuration differs from etc/meta-fuse.conf only by the
# readers' user and the generated WebDAV credentials; the maintainer scripts make
# the users and the password; lintian reports no error; the three version
# numbers (CMake, Debian changelog, RPM spec) agree.
. "$(dirname "$0")/../integration/lib.sh"
: "${MF_PKG_DIR:?run through tests/packaging/run.sh}"
need dpkg-deb rpm rpm2cpio cpio lintian
shopt -s nullglob
debs=("$MF_PKG_DIR"/meta-fuse_*.deb)
rpms=("$MF_PKG_DIR"/meta-fuse-*.rpm)
[ ${#debs[@]} -eq 1 ] || fail "expected one .deb in $MF_PKG_DIR, found ${#debs[@]}"
[ ${#rpms[@]} -eq 1 ] || fail "expected one .rpm in $MF_PKG_DIR, found ${#rpms[@]}"
DEB=${debs[0]}
RPM=${rpms[0]}

# --- versions ---
v_cmake=$(sed -n 's/^project(meta-fuse VERSION \([0-9.]*\).*/\1/p' "$MF_SOURCE_DIR/CMakeLists.txt")
v_deb=$(dpkg-deb -f "$DEB" Version)
v_rpm=$(rpm -qp --qf '%{VERSION}' "$RPM" 2>/dev/null)
expect_eq "$v_deb" "$v_cmake" "the .deb's version is CMake's"
expect_eq "$v_rpm" "$v_cmake" "the .rpm's version is CMake's"
expect_eq "$(basename "$DEB")" "meta-fuse_${v_cmake}_$(dpkg --print-architecture).deb" "the .deb's name"

# --- the expected layout, from this tree ---
# expected FILE PREFIX-STYLE: print the required paths, Debian style (deb) or RPM (rpm).
expected() {
	local style=$1 unitdir=/lib/systemd/system man_suffix=.gz f
	[ "$style" = rpm ] && { unitdir=/usr/lib/systemd/system; man_suffix=; }
	echo /usr/bin/meta-fuse
	for f in "$MF_BUILD_DIR"/bin/meta-fuse-*; do
		echo "/usr/libexec/meta-fuse/$(basename "$f")"
	done
	echo /usr/libexec/meta-fuse/webdav-password
	echo /etc/meta-fuse/meta-fuse.conf
	for f in "$MF_SOURCE_DIR"/etc/rules/* "$MF_SOURCE_DIR"/etc/hooks/*; do
		echo "/etc/meta-fuse/${f#"$MF_SOURCE_DIR"/etc/}"
	done
	for f in "$MF_SOURCE_DIR"/docs/man/*.[15]; do
		echo "/usr/share/man/man${f##*.}/$(basename "$f")$man_suffix"
	done
	for f in meta-fuse.service meta-fuse@.service meta-fuse-davd.socket meta-fuse-apid.socket \
		meta-fuse-workers.target meta-fuse@kvwatch.service.d/writer.conf \
		meta-fuse@fused.service.d/mount.conf meta-fuse@davd.service.d/reader.conf \
		meta-fuse@apid.service.d/reader.conf; do
		echo "$unitdir/$f"
	done
	echo /usr/lib/sysusers.d/meta-fuse.conf
	echo /usr/lib/tmpfiles.d/meta-fuse.conf
	echo /usr/share/meta-fuse/nginx/meta-fuse.conf
}
# Places where more files may appear (the dashboard's assets, documentation).
allowed='^(/usr/share/meta-fuse/|/usr/share/doc/meta-fuse[-/])'

# check_layout STYLE LISTING: LISTING is "mode path" per file.
check_layout() {
	local style=$1 listing=$2 missing extra
	missing=$(expected "$style" | sort | comm -23 - <(cut -d' ' -f2 "$listing" | sort))
	expect_eq "$missing" "" "the $style holds every expected file"
	extra=$(cut -d' ' -f2 "$listing" | sort | comm -13 <(expected "$style" | sort) - |
		grep -vE "$allowed" || true)
	expect_eq "$extra" "" "the $style holds nothing outside meta-fuse's places"
	bad=$(awk '$1 ~ /^-..[sS]|^-.....[sS]/ {print $2}' "$listing")
	expect_eq "$bad" "" "the $style has no set-uid or set-gid file"
	for f in /usr/bin/meta-fuse /usr/libexec/meta-fuse/webdav-password \
		/usr/libexec/meta-fuse/meta-fuse-kvwatch; do
		expect_eq "$(awk -v f="$f" '$2 == f {print $1}' "$listing")" -rwxr-xr-x "$style: $f mode"
	done
	expect_eq "$(awk '$2 == "/etc/meta-fuse/meta-fuse.conf" {print $1}' "$listing")" -rw-r--r-- \
		"$style: meta-fuse.conf mode"
}

dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {p = $6; sub(/^\./, "", p); print $1, p}' >"$T/deb.list"
check_layout deb "$T/deb.list"
rpm -qlpv "$RPM" 2>/dev/null | awk '$1 !~ /^d/ {print $1, $9}' >"$T/rpm.list"
check_layout rpm "$T/rpm.list"

# --- conffiles ---
dpkg-deb --ctrl-tarfile "$DEB" | tar -x -O ./conffiles | sort >"$T/conffiles"
grep '^/etc/' <(cut -d' ' -f2 "$T/deb.list") | sort >"$T/etc-files"
expect_eq "$(cat "$T/conffiles")" "$(cat "$T/etc-files")" "every file under /etc is a conffile (deb)"
rpm -qpc "$RPM" 2>/dev/null | sort >"$T/rpm-config"
grep '^/etc/' <(cut -d' ' -f2 "$T/rpm.list") | sort >"$T/rpm-etc"
expect_eq "$(cat "$T/rpm-config")" "$(cat "$T/rpm-etc")" "every file under /etc is %config (rpm)"

# --- the installed configuration ---
dpkg-deb --fsys-tarfile "$DEB" | tar -x -O ./etc/meta-fuse/meta-fuse.conf >"$T/deb.conf"
"$MF_SOURCE_DIR/packaging/package-config" "$MF_SOURCE_DIR/etc/meta-fuse.conf" "$T/expected.conf"
cmp -s "$T/deb.conf" "$T/expected.conf" || fail "the .deb's meta-fuse.conf is not package-config's"
diff "$MF_SOURCE_DIR/etc/meta-fuse.conf" "$T/deb.conf" | grep '^[<>]' | grep -v '^[<>]\s*#' |
	LC_ALL=C sort >"$T/conf.diff"
expect_eq "$(cat "$T/conf.diff")" '< 	password = "metamesh";
< 	username = "metamesh";
< gid = 1000;
< uid = 1000;
> 	@include "webdav-credentials.conf"
> gid = "meta-fuse-media";
> uid = "meta-fuse-media";' "the installed configuration: readers' user, generated credentials"
rpmdir=$T/rpmroot
mkdir -p "$rpmdir"
(cd "$rpmdir" && rpm2cpio "$RPM" | cpio -idm --quiet ./etc/meta-fuse/meta-fuse.conf) 2>/dev/null ||
	fail "cannot unpack the .rpm"
cmp -s "$rpmdir/etc/meta-fuse/meta-fuse.conf" "$T/deb.conf" || fail "the .rpm's meta-fuse.conf differs from the .deb's"
ok "the .rpm installs the same configuration"

# --- maintainer scripts ---
dpkg-deb --ctrl-tarfile "$DEB" | tar -x -O ./postinst >"$T/postinst"
for want in 'webdav-password --if-missing' 'systemd-sysusers' 'systemd-tmpfiles' \
	"deb-systemd-helper enable 'meta-fuse.service'"; do
	grep -qF -- "$want" "$T/postinst" || fail "the .deb's postinst lacks: $want"
done
ok "the .deb's postinst makes the users, the directories and the password, and enables the service"
pw_line=$(grep -n 'webdav-password --if-missing' "$T/postinst" | cut -d: -f1)
start_line=$(grep -n 'deb-systemd-invoke' "$T/postinst" | head -1 | cut -d: -f1)
[ "$pw_line" -lt "$start_line" ] || fail "postinst starts the service before the password exists"
ok "the password exists before postinst starts the service"
enabled=$(grep -o "deb-systemd-helper enable '[^']*'" "$T/postinst" | sort -u | tr '\n' ' ')
expect_eq "$enabled" "deb-systemd-helper enable 'meta-fuse.service' " \
	"only the supervisor's unit is enabled (the per-worker units are an alternative)"
rpm -qp --scripts "$RPM" >"$T/rpm.scripts" 2>/dev/null
for want in 'webdav-password --if-missing' 'systemd-sysusers' 'systemd-tmpfiles --create'; do
	grep -qF -- "$want" "$T/rpm.scripts" || fail "the .rpm's %post lacks: $want"
done
ok "the .rpm's %post makes the users, the directories and the password"
deps=$(dpkg-deb -f "$DEB" Depends)
expect_match "$deps" '(^|, )fuse3(,|$)' "the .deb depends on fuse3"
expect_match "$deps" 'systemd \| systemd-standalone-sysusers' "the .deb depends on a sysusers implementation"

# --- lintian ---
lintian --no-tag-display-limit "$DEB" >"$T/lintian.log" 2>&1
errors=$(grep -c '^E: ' "$T/lintian.log")
grep -E '^[EW]: ' "$T/lintian.log" | sed 's/^/  lintian: /'
expect_eq "$errors" 0 "lintian reports no error"
