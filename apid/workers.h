/*
 * workers: reading the supervisor's status.json, for GET /api/fuse/workers and
 * the per-worker series of /metrics.
 */
#ifndef MF_APID_WORKERS_H
#define MF_APID_WORKERS_H

#include <jansson.h>
#include <stddef.h>

#define WORKERS_STATUS_FILE "status.json"

struct config;

/*
 * Load runtime_dir/status.json as a JSON object.  Returns 0, or -ENOENT (no
 * supervisor), -EBADMSG (not a JSON object), -errno, with the reason in err.
 */
int workers_load(const struct config *cfg, json_t **ret, char *err, size_t errlen);

#endif
