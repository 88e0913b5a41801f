#!/bin/sh
# setup-image.sh: turn a Debian 12 root file system into the meta-fuse image.
#
#   setup-image.sh DEB ENTRYPOINT
#
# Run inside the image as root: by the Dockerfile's last stage, and by the
# packaging test on a root file system made with mmdebstrap (no image can be
# pulled there), so both images are made the same way.  Installs the .deb with
# what the container needs beside it (curl for the health check, nginx for the
# single-port front, the standalone sysusers and tmpfiles rather than all of
# systemd, which the container does not run), then drops the WebDAV password the
# package generated (every container makes its own at start, see entrypoint.sh)
# and the apt lists.
set -eu
deb=${1:?usage: setup-image.sh DEB ENTRYPOINT}
entrypoint=${2:?usage: setup-image.sh DEB ENTRYPOINT}

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$deb" curl ca-certificates nginx-light \
	systemd-standalone-sysusers systemd-standalone-tmpfiles >/dev/null
rm -f /etc/meta-fuse/webdav-credentials.conf /etc/meta-fuse/webdav-password
# The distribution's nginx site is not used: meta-fuse runs nginx with its own
# configuration, unprivileged, as a supervised program.
rm -f /etc/nginx/sites-enabled/default
install -m 0755 "$entrypoint" /usr/local/bin/meta-fuse-entrypoint
mkdir -p /files /meta-core /mnt/virtual
apt-get clean
rm -rf /var/lib/apt/lists/*
