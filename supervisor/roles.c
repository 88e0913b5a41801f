/*
 * roles: the supervisor's workers as data.  One entry per worker of the suite:
 * its name, its executable, what it receives (the FUSE descriptor, a listening
 * socket, the right to write the runtime directory), whether it speaks sd_notify
 * and takes SIGHUP on a new generation, and which configuration keys restart it.
 * The order of the table is the start order; kvwatch, the writer, comes first
 * and the readers wait for its READY (run.c).
 *
 * An executable is looked up beside the meta-fuse binary (the build tree's bin/)
 * and then in the installed libexec directory; a role whose executable is in
 * neither place is named "not built" and skipped, never faked.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "supervisor.h"

#ifndef MF_LIBEXEC_DIR
#define MF_LIBEXEC_DIR "/usr/libexec/meta-fuse"
#endif

static bool always(const struct config *cfg)
{
	return true;
}

static bool fuse_enabled(const struct config *cfg)
{
	return cfg->fuse.enabled;
}

static bool webdav_enabled(const struct config *cfg)
{
	return cfg->webdav.enabled;
}

static bool api_enabled(const struct config *cfg)
{
	return cfg->api.enabled;
}

/* kvwatch reloads its own configuration on SIGHUP: only these restart it. */
static const char *const kvwatch_keys[] = {"runtime_dir", "writer_user", NULL};
static const char *const fused_keys[] = {
    "uid", "gid", "runtime_dir", "files_volume", "source_webdav_url", "fuse.", NULL};
static const char *const davd_keys[] = {
    "uid", "gid", "runtime_dir", "files_volume", "source_webdav_url", "webdav.", NULL};
/*
 * apid reads the rules from the file per request: a change of rules restarts nobody.
 * It reads the store for POST /api/fuse/metadata (its own read-only connection).
 */
static const char *const apid_keys[] = {"uid",
                                        "gid",
                                        "runtime_dir",
                                        "files_volume",
                                        "source_webdav_url",
                                        "fuse.enabled",
                                        "fuse.mount_point",
                                        "fuse.file_mode",
                                        "fuse.dir_mode",
                                        "api.",
                                        "kv.meta_core_path",
                                        "kv.redis_url",
                                        "kv.prefix",
                                        "kv.separator",
                                        "kv.connect_timeout_ms",
                                        NULL};

const struct role roles[] = {
    {"kvwatch", "meta-fuse-kvwatch", ROLE_WRITER | ROLE_NOTIFY, always, kvwatch_keys},
    {"fused", "meta-fuse-fused", ROLE_FUSE_FD | ROLE_NOTIFY | ROLE_GEN_HUP, fuse_enabled,
     fused_keys},
    {"davd", "meta-fuse-davd", ROLE_WEBDAV_FD | ROLE_NOTIFY | ROLE_GEN_HUP, webdav_enabled,
     davd_keys},
    {"apid", "meta-fuse-apid", ROLE_API_FD | ROLE_NOTIFY | ROLE_GEN_HUP, api_enabled, apid_keys},
};
const size_t role_count = sizeof(roles) / sizeof(roles[0]);

void roles_find_exe(const struct supervisor *s, const struct role *r, char *buf, size_t len)
{
	const char *dirs[] = {s->self_dir, MF_LIBEXEC_DIR};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (!dirs[i][0])
			continue;
		snprintf(buf, len, "%s/%s", dirs[i], r->exe);
		if (access(buf, X_OK) == 0)
			return;
	}
	buf[0] = '\0';
}
