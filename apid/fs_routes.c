/*
 * fs_routes: the file-system calls of the API, one virtual path each:
 * POST /api/fuse/readdir, getattr, exists and read.
 *
 * The path comes in the JSON body and goes through the one path routine
 * (api_body_node(): normalise, stay under the root, look up in the snapshot),
 * so nothing outside the tree is reachable.  read hands out where a file's
 * bytes are, or with offset and length the bytes themselves (base64, at most
 * API_READ_MAX per call), opened beneath the files volume by lib/source.c or
 * fetched from the source WebDAV URL.  metadata has its own file
 * (metadata.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "generation.h"
#include "http_status.h"
#include "path.h"
#include "snapshot.h"
#include "source.h"
#include "webdav_source.h"

int api_readdir(struct api_call *c)
{
	const struct snapshot *s;
	const struct snap_node *n, *kids;
	char path[SNAP_PATH_MAX];
	struct jsonw w;
	uint32_t count;
	int r;

	if (api_body_node(c, "path", path, sizeof(path), &n) < 0)
		return 0;
	s = c->gen->snap;
	if (!snapshot_node_is_dir(n))
		return api_error(c, 400, "not a directory: %s", path);
	kids = snapshot_children(s, n, &count);
	r = jsonw_init(&w);
	if (r < 0)
		return r;
	jsonw_object_begin(&w);
	jsonw_key(&w, "entries");
	jsonw_array_begin(&w);
	for (uint32_t i = 0; i < count; i++)
		jsonw_stringn(&w, snapshot_str(s, kids[i].name), kids[i].name.len);
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	return api_reply(c, 200, &w);
}

/* Octal digits of mode written as a decimal number: 0644 -> 644. */
static uint64_t mode_digits(mode_t mode)
{
	return (uint64_t)((mode >> 6) & 7) * 100 + ((mode >> 3) & 7) * 10 + (mode & 7);
}

/*
 * A file's size: the snapshot's, unless kvwatch flagged it as unknown
 * (SNAP_NODE_F_SIZE_UNKNOWN): then a stat of the source beneath the volume, as
 * fused shows it (0 when the source cannot be opened).
 */
static uint64_t file_size(const struct api *api, const struct snapshot *s,
                          const struct snap_node *n)
{
	uint64_t size;

	if (!(n->flags & SNAP_NODE_F_SIZE_UNKNOWN) || !api->src)
		return n->size;
	if (source_size(api->src, snapshot_str(s, n->source), &size) < 0)
		return 0;
	return size;
}

int api_getattr(struct api_call *c)
{
	const struct config *cfg = c->api->cfg;
	const struct snapshot *s;
	const struct snap_node *n;
	char path[SNAP_PATH_MAX], id[24], mtime[40];
	struct jsonw w;
	bool dir;
	int r;

	if (api_body_node(c, "path", path, sizeof(path), &n) < 0)
		return 0;
	s = c->gen->snap;
	dir = snapshot_node_is_dir(n);
	r = jsonw_init(&w);
	if (r < 0)
		return r;
	jsonw_object_begin(&w);
	jsonw_kv_u64(&w, "size", dir ? n->size : file_size(c->api, s, n));
	jsonw_kv_string(&w, "mode", dir ? "directory" : "file");
	jsonw_kv_u64(&w, "permissions",
	             mode_digits(dir ? cfg->fuse.dir_mode : cfg->fuse.file_mode));
	jsonw_kv_u64(&w, "uid", cfg->uid);
	jsonw_kv_u64(&w, "gid", cfg->gid);
	if (n->mtime_ns) { /* atime is mtime: format it once */
		jsonw_format_time(n->mtime_ns, mtime, sizeof(mtime));
		jsonw_kv_string(&w, "atime", mtime);
		jsonw_kv_string(&w, "mtime", mtime);
	} else {
		jsonw_kv_time(&w, "atime", 0);
		jsonw_kv_time(&w, "mtime", 0);
	}
	jsonw_kv_time(&w, "ctime", n->ctime_ns);
	/* A 64-bit id does not fit a JavaScript number: a decimal string. */
	snprintf(id, sizeof(id), "%" PRIu64, n->id);
	jsonw_kv_string(&w, "id", id);
	if (dir) {
		jsonw_kv_u64(&w, "entries", n->child_count);
	} else {
		char *src = api_source_path(c->api, snapshot_str(s, n->source));

		if (src == NULL) {
			jsonw_discard(&w);
			return -ENOMEM;
		}
		jsonw_kv_string(&w, "sourcePath", src);
		free(src);
		jsonw_kv_string(&w, "hashId", snapshot_str(s, n->hash_id));
	}
	jsonw_object_end(&w);
	return api_reply(c, 200, &w);
}

int api_exists(struct api_call *c)
{
	json_t *v = json_object_get(c->body, "path");
	const struct snap_node *n;
	char path[SNAP_PATH_MAX];
	bool found = false;
	struct jsonw w;
	int r;

	if (v == NULL)
		return api_error(c, 400, "missing field \"path\"");
	if (!json_is_string(v))
		return api_error(c, 400, "field \"path\" must be a string");
	if (json_string_value(v)[0] != '/')
		return api_error(c, 400, "field \"path\" must be an absolute path");
	r = path_normalize(json_string_value(v), json_string_length(v), path, sizeof(path));
	if (r < 0)
		return api_error(c, 400, "field \"path\": %s",
		                 r == -ENAMETOOLONG ? "path too long" : "invalid path");
	if (api_need_snapshot(c))
		return 0;
	found = snapshot_lookup_path(c->gen->snap, path, &n) == 0;
	r = jsonw_init(&w);
	if (r < 0)
		return r;
	jsonw_object_begin(&w);
	jsonw_kv_bool(&w, "exists", found);
	jsonw_object_end(&w);
	return api_reply(c, 200, &w);
}

/* A non-negative integer member, absent = -1; -2 after a 400. */
static int64_t body_offset(struct api_call *c, const char *name)
{
	json_t *v = json_object_get(c->body, name);

	if (v == NULL || json_is_null(v))
		return -1;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		api_error(c, 400, "field \"%s\" must be a non-negative integer", name);
		return -2;
	}
	return json_integer_value(v);
}

/* Read up to len bytes at off of the file's source into buf; count or -errno. */
static ssize_t read_source(struct api *api, const char *rel, void *buf, size_t len, off_t off)
{
	ssize_t n;

	if (api->webdav) {
		struct webdav_file *f;
		uint64_t size;
		int r;

		r = webdav_file_open(api->webdav, rel, &f, &size);
		if (r < 0)
			return r;
		n = webdav_file_read(f, buf, len, off);
		webdav_file_close(f);
		return n;
	}
	int fd = source_open(api->src, rel, NULL);
	size_t got = 0;

	if (fd < 0)
		return fd;
	while (got < len) {
		n = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

static int read_bytes(struct api_call *c, const struct snap_node *n, const char *path, uint64_t off,
                      uint64_t len)
{
	const char *rel = snapshot_str(c->gen->snap, n->source);
	uint64_t size = file_size(c->api, c->gen->snap, n);
	unsigned char *buf = NULL;
	struct jsonw w;
	ssize_t got;
	int r;

	if (len > API_READ_MAX)
		len = API_READ_MAX;
	if (off >= size)
		len = 0;
	else if (len > size - off)
		len = size - off;
	buf = malloc(len ? len : 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	got = len ? read_source(c->api, rel, buf, len, (off_t)off) : 0;
	if (got < 0) {
		r = 0;
		api_error(c, (int)http_status_of_errno((int)got), "reading the source of %s: %s",
		          path,
		          got == -EXDEV || got == -ELOOP ? "it leaves the files volume, refused"
		                                         : strerror((int)-got));
		goto out;
	}
	r = jsonw_init(&w);
	if (r < 0)
		goto out;
	jsonw_object_begin(&w);
	jsonw_kv_u64(&w, "offset", off);
	jsonw_kv_u64(&w, "length", (uint64_t)got);
	jsonw_kv_u64(&w, "size", size);
	jsonw_kv_bool(&w, "eof", off + (uint64_t)got >= size);
	jsonw_kv_string(&w, "contentEncoding", "base64");
	jsonw_key(&w, "content");
	jsonw_base64(&w, buf, (size_t)got);
	jsonw_object_end(&w);
	r = api_reply(c, 200, &w);
out:
	free(buf);
	return r;
}

int api_read(struct api_call *c)
{
	const struct snap_node *n;
	char path[SNAP_PATH_MAX];
	int64_t off, len;
	struct jsonw w;
	char *src;
	int r;

	if (api_body_node(c, "path", path, sizeof(path), &n) < 0)
		return 0;
	if (snapshot_node_is_dir(n))
		return api_error(c, 400, "is a directory: %s", path);
	if ((off = body_offset(c, "offset")) == -2 || (len = body_offset(c, "length")) == -2)
		return 0;
	if ((off < 0) != (len < 0))
		return api_error(c, 400, "\"offset\" and \"length\" go together");
	if (off >= 0)
		return read_bytes(c, n, path, (uint64_t)off, (uint64_t)len);

	src = api_source_path(c->api, snapshot_str(c->gen->snap, n->source));
	if (src == NULL)
		return -ENOMEM;
	r = jsonw_init(&w);
	if (r < 0) {
		free(src);
		return r;
	}
	jsonw_object_begin(&w);
	jsonw_kv_string(&w, "sourcePath", src);
	jsonw_kv_u64(&w, "size", file_size(c->api, c->gen->snap, n));
	free(src);
	if (c->api->webdav) {
		char *url = webdav_url(c->api->webdav, snapshot_str(c->gen->snap, n->source));

		if (url == NULL) {
			jsonw_discard(&w);
			return -ENOMEM;
		}
		jsonw_kv_string(&w, "webdavUrl", url);
		free(url);
	}
	jsonw_object_end(&w);
	return api_reply(c, 200, &w);
}
