/*
 * snapshot_writer: turns a struct snapshot_build into a published vfs.snapshot.
 *
 * It adds what the tree does not know (the id index, the KV state and its strings,
 * the generation, both checksums), streams the sections into a temporary file in
 * the target directory with large writes while hashing them, writes the header last
 * and rename()s the file into place.  Big sections go to write() straight from the
 * caller's arrays; small ones are gathered in one 1 MiB buffer, so a million-node
 * tree costs a few hundred syscalls and no copy of the whole file.
 *
 * A live update (tree_patch) rewrites every node: rather than fill an array that
 * is then copied, it writes the nodes straight into the node section of the new
 * file, mapped by snapshot_begin(), and snapshot_write() streams the rest behind
 * them.  Fresh pages cost about as much as the copy here, so this halves the
 * memory a patch touches.  A file made ready ahead (snapshot_prepare(), on a
 * thread of the caller's) is mapped whole, its page tables filled: the writer
 * then copies every section into the mapping, builds the id index where it lies,
 * and the update pays neither the allocation nor the mapping of its pages.
 *
 * It checks only what it needs to lay the file out (counts that fit, the empty
 * string at offset 0, unique ids); the structure of the tree is the builder's
 * business and every reader validates it again.  It does not fsync: the runtime
 * directory is a tmpfs, and a file torn by a crash is refused by the readers'
 * checksums and rewritten by the next kvwatch.  It does not log.
 */
#include "snapshot_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checksum.h"
#include "hash.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the snapshot is little-endian and written from structs in memory"
#endif

#define OUT_BUF_SIZE ((size_t)1 << 20)

static const struct snap_header zero_header;

/* Largest node count whose index (a power of two >= 2 * count) fits 32 bits. */
#define MAX_NODES ((uint32_t)1 << 30)

/* A temporary file beside its target; see snapshot_begin() for the mapped nodes. */
struct snapshot_file {
	int fd;
	bool renamed;
	uint64_t allocated; /* bytes posix_fallocate()d so far */
	char tmp[PATH_MAX];
	char target[PATH_MAX];
	void *map; /* [0, map_len): all of a prepared file, else the header's place and the nodes */
	size_t map_len;
	uint32_t node_count;
};

/*
 * The output stream, and the body hash: a buffer in front of fd, or (map set)
 * copies into the file's mapping.
 */
struct out {
	int fd;
	unsigned char *buf;
	size_t used;
	unsigned char *map; /* the whole file, mapped; NULL: write() through buf */
	uint64_t pos;       /* bytes of the file written or buffered so far */
	struct checksum body;
};

static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int pwrite_all(int fd, const void *data, size_t len, off_t off)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int out_flush(struct out *o)
{
	int r = o->used ? write_all(o->fd, o->buf, o->used) : 0;

	o->used = 0;
	return r;
}

/* Append len bytes; hashed ones count towards the body checksum. */
static int out_append(struct out *o, const void *data, size_t len, bool hashed)
{
	int r;

	if (len == 0)
		return 0;
	if (hashed)
		checksum_update(&o->body, data, len);
	if (o->map != NULL) {
		/* A section built where it lies (the id index) is only hashed. */
		if (data != o->map + o->pos)
			memcpy(o->map + o->pos, data, len);
		o->pos += len;
		return 0;
	}
	o->pos += len;
	if (o->used + len <= OUT_BUF_SIZE) {
		memcpy(o->buf + o->used, data, len);
		o->used += len;
		return 0;
	}
	r = out_flush(o);
	if (r < 0)
		return r;
	if (len >= OUT_BUF_SIZE)
		return write_all(o->fd, data, len);
	memcpy(o->buf, data, len);
	o->used = len;
	return 0;
}

/* Zero bytes up to the next multiple of 8, as part of the body. */
static int out_align(struct out *o)
{
	static const unsigned char zero[8];
	size_t pad = (size_t)(-o->pos & 7);

	return out_append(o, zero, pad, true);
}

static uint64_t align8(uint64_t x)
{
	return (x + 7) & ~(uint64_t)7;
}

static uint32_t index_buckets_for(uint32_t node_count)
{
	uint32_t buckets = 2;

	while (buckets < 2 * node_count)
		buckets <<= 1;
	return buckets;
}

/*
 * The id index, in index[0 .. buckets): bucket = id & (buckets - 1), linear
 * probing, SNAP_INDEX_EMPTY for a free bucket.  A duplicate id is the builder's
 * bug: -EINVAL.
 */
static int fill_index(const struct snapshot_build *b, uint32_t buckets, uint32_t *index)
{
	uint32_t mask = buckets - 1;

	memset(index, 0xff, (size_t)buckets * sizeof(*index));
	for (uint32_t i = 0; i < b->node_count; i++) {
		struct snap_node *nd = &b->nodes[i];
		uint64_t id = nd->id;
		uint32_t p = (uint32_t)(id & mask);

		/*
		 * The directories' subdirectory counts, in the same pass: a node's
		 * children come after it, so it is zeroed before any of them counts.
		 */
		nd->subdirs = 0;
		if (i > 0 && nd->type == SNAP_NODE_DIR && nd->parent < i)
			b->nodes[nd->parent].subdirs++;

		while (index[p] != SNAP_INDEX_EMPTY) {
			if (b->nodes[index[p]].id == id)
				return -EINVAL;
			p = (p + 1) & mask;
		}
		index[p] = i;
	}
	return 0;
}

/* The offsets and the total size, from the counts in h. */
static void lay_out(struct snap_header *h)
{
	uint64_t off = align8(sizeof(*h));

	/* 64-bit sums of 32-bit counts times small sizes cannot overflow. */
	h->nodes_off = off;
	off = align8(off + (uint64_t)h->node_count * sizeof(struct snap_node));
	h->index_off = off;
	off = align8(off + (uint64_t)h->index_buckets * sizeof(uint32_t));
	h->props_off = off;
	off = align8(off + (uint64_t)h->prop_count * sizeof(struct snap_prop));
	h->rules_off = off;
	off = align8(off + (uint64_t)h->rule_count * sizeof(struct snap_rule));
	h->categories_off = off;
	off = align8(off + (uint64_t)h->category_count * sizeof(struct snap_category));
	h->skips_off = off;
	off = align8(off + (uint64_t)h->skip_count * sizeof(struct snap_skip));
	h->strings_off = off;
	h->total_size = off + h->strings_size;
}

/* Everything the header needs that follows from the counts alone. */
static int plan_layout(const struct snapshot_build *b, uint64_t strings_size, struct snap_header *h)
{
	if (b->node_count == 0 || !b->nodes)
		return -EINVAL;
	if (b->node_count > MAX_NODES || strings_size > UINT32_MAX)
		return -EOVERFLOW;
	if ((b->prop_count && !b->props) || (b->props_base_count && !b->props_base) ||
	    (b->rule_count && !b->rules) || (b->category_count && !b->categories) ||
	    (b->skip_count && !b->skips))
		return -EINVAL;

	h->header_size = sizeof(*h);
	h->node_size = sizeof(struct snap_node);
	h->node_count = b->node_count;
	h->index_buckets = index_buckets_for(b->node_count);
	h->prop_count = b->props_base_count + b->prop_count;
	h->rule_count = b->rule_count;
	h->category_count = b->category_count;
	h->skip_count = b->skip_count;
	h->strings_size = strings_size;
	lay_out(h);
	if (h->total_size > (uint64_t)SIZE_MAX || h->total_size > (uint64_t)INT64_MAX)
		return -EOVERFLOW;
	return 0;
}

/*
 * The body, in layout order; o->pos follows the offsets planned in h.  With
 * nodes_in_file the node section is in the file already (snapshot_begin()): it is
 * hashed where it lies and the stream goes on after it (when the file is mapped
 * whole, out_append() sees that by itself).
 */
static int write_body(struct out *o, const struct snapshot_build *b, const uint32_t *index,
                      const char *kv_tail, size_t kv_tail_len, const struct snap_header *h,
                      bool nodes_in_file)
{
	size_t nodes_bytes = (size_t)b->node_count * sizeof(*b->nodes);
	int r;

#define SECTION(off, ptr, bytes)                         \
	do {                                             \
		r = out_align(o);                        \
		if (r < 0)                               \
			return r;                        \
		if (o->pos != (off))                     \
			return -EIO;                     \
		r = out_append(o, (ptr), (bytes), true); \
		if (r < 0)                               \
			return r;                        \
	} while (0)

	if (nodes_in_file && o->map == NULL) {
		if (o->pos != h->nodes_off)
			return -EIO;
		checksum_update(&o->body, b->nodes, nodes_bytes);
		o->pos += nodes_bytes;
		if (lseek(o->fd, (off_t)o->pos, SEEK_SET) < 0)
			return -errno;
	} else {
		SECTION(h->nodes_off, b->nodes, nodes_bytes);
	}
	SECTION(h->index_off, index, (size_t)h->index_buckets * sizeof(*index));
	SECTION(h->props_off, b->props_base, (size_t)b->props_base_count * sizeof(*b->props));
	r = out_append(o, b->props, (size_t)b->prop_count * sizeof(*b->props), true);
	if (r < 0)
		return r;
	SECTION(h->rules_off, b->rules, (size_t)b->rule_count * sizeof(*b->rules));
	SECTION(h->categories_off, b->categories,
	        (size_t)b->category_count * sizeof(*b->categories));
	SECTION(h->skips_off, b->skips, (size_t)b->skip_count * sizeof(*b->skips));
	SECTION(h->strings_off, b->strings_base, (size_t)b->strings_base_size);
	r = out_append(o, b->strings, (size_t)b->strings_size, true);
	if (r < 0)
		return r;
#undef SECTION
	r = out_append(o, kv_tail, kv_tail_len, true);
	if (r < 0)
		return r;
	if (o->pos != h->total_size)
		return -EIO;
	return out_flush(o);
}

/*
 * The KV strings go in a small tail after the builder's strings: "error\0leader\0",
 * each left out (and pointing at offset 0, "") when empty.
 */
static int kv_strings(const struct snapshot_build *b, const struct snapshot_kv_state *kv,
                      struct snap_header *h, char **ret_tail, size_t *ret_len)
{
	const char *error = kv && kv->error ? kv->error : "";
	const char *leader = kv && kv->leader ? kv->leader : "";
	size_t elen = strlen(error), llen = strlen(leader);
	size_t len = (elen ? elen + 1 : 0) + (llen ? llen + 1 : 0);
	uint64_t base = b->strings_base_size + b->strings_size;
	char *tail;

	if (elen > UINT32_MAX || llen > UINT32_MAX || base + len > UINT32_MAX)
		return -EOVERFLOW;
	tail = malloc(len ? len : 1);
	if (!tail)
		return -ENOMEM;
	h->kv_error = (struct snap_str){0, 0};
	h->kv_leader = (struct snap_str){0, 0};
	len = 0;
	if (elen) {
		memcpy(tail, error, elen + 1);
		h->kv_error = (struct snap_str){(uint32_t)base, (uint32_t)elen};
		len = elen + 1;
	}
	if (llen) {
		memcpy(tail + len, leader, llen + 1);
		h->kv_leader = (struct snap_str){(uint32_t)(base + len), (uint32_t)llen};
		len += llen + 1;
	}
	*ret_tail = tail;
	*ret_len = len;
	return 0;
}

/* The strings section (base and own part) starts with "" and ends with a NUL. */
static int check_sections(const struct snapshot_build *b)
{
	uint64_t total = b->strings_base_size + b->strings_size;
	char first, last;

	if (b->node_count > MAX_NODES || total > UINT32_MAX ||
	    (uint64_t)b->props_base_count + b->prop_count > UINT32_MAX)
		return -EOVERFLOW;
	if (total == 0 || (b->strings_base_size && !b->strings_base) ||
	    (b->strings_size && !b->strings))
		return -EINVAL;
	first = b->strings_base_size ? b->strings_base[0] : b->strings[0];
	last = b->strings_size ? b->strings[b->strings_size - 1]
	                       : b->strings_base[b->strings_base_size - 1];
	return first == '\0' && last == '\0' ? 0 : -EINVAL;
}

static int check_name(const char *name)
{
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return 0;
}

/* Create the temporary file for dir/name. */
static int file_create(const char *dir, const char *name, struct snapshot_file **ret)
{
	struct snapshot_file *f;
	int n, r;

	if (!dir || check_name(name) < 0)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = -1;
	n = snprintf(f->target, sizeof(f->target), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(f->target)) {
		free(f);
		return -ENAMETOOLONG;
	}
	n = snprintf(f->tmp, sizeof(f->tmp), "%s/.%s.XXXXXX", dir, name);
	if (n < 0 || (size_t)n >= sizeof(f->tmp)) {
		free(f);
		return -ENAMETOOLONG;
	}
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		r = -errno;
		free(f);
		return r;
	}
	if (fchmod(f->fd, 0444) < 0) {
		r = -errno;
		snapshot_file_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

void snapshot_file_free(struct snapshot_file *f)
{
	if (!f)
		return;
	if (f->map)
		munmap(f->map, f->map_len);
	if (f->fd >= 0)
		close(f->fd);
	if (!f->renamed)
		unlink(f->tmp);
	free(f);
}

/* Allocate the first len bytes (a no-op for what was allocated already). */
static int file_allocate(struct snapshot_file *f, uint64_t len)
{
	int r;

	if (len <= f->allocated)
		return 0;
	/* On a tmpfs this allocates the pages; ENOSPC shows here, not as SIGBUS later. */
	r = posix_fallocate(f->fd, 0, (off_t)len);
	if (r != 0)
		return -r;
	f->allocated = len;
	return 0;
}

/*
 * Map the first len bytes, allocated first; with populate, page tables filled
 * (a file prepared ahead, off the path).  Nodes mapped on the path are written in
 * order right away: faulting their pages in as they are written lets the
 * builder's temporaries go meanwhile, so the peak stays that of a heap array.
 */
static int file_map(struct snapshot_file *f, size_t len, bool populate)
{
	void *map;
	int r = file_allocate(f, len);

	if (r < 0)
		return r;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | (populate ? MAP_POPULATE : 0),
	           f->fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	f->map = map;
	f->map_len = len;
	return 0;
}

int snapshot_prepare(const char *dir, const char *name, uint64_t size, struct snapshot_file **ret)
{
	struct snapshot_file *f;
	int r;

	if (size < sizeof(struct snap_header) || size > SIZE_MAX)
		return -EINVAL;
	r = file_create(dir, name, &f);
	if (r < 0)
		return r;
	r = file_map(f, (size_t)size, true);
	if (r < 0) {
		snapshot_file_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

int snapshot_begin_in(struct snapshot_file *f, uint32_t node_count, struct snap_node **nodes)
{
	size_t len = align8(sizeof(struct snap_header)) + (size_t)node_count * sizeof(**nodes);
	int r;

	if (node_count == 0 || node_count > MAX_NODES || f->node_count != 0 || f->renamed)
		return -EINVAL;
	if (f->map_len < len) {
		/* Prepared too small: the nodes alone get a mapping, the rest is streamed. */
		if (f->map != NULL)
			munmap(f->map, f->map_len);
		f->map = NULL;
		f->map_len = 0;
		r = file_map(f, len, false);
		if (r < 0)
			return r;
	}
	f->node_count = node_count;
	*nodes = (struct snap_node *)((char *)f->map + align8(sizeof(struct snap_header)));
	return 0;
}

int snapshot_begin(const char *dir, const char *name, uint32_t node_count,
                   struct snapshot_file **ret, struct snap_node **nodes)
{
	struct snapshot_file *f;
	int r;

	if (node_count == 0 || node_count > MAX_NODES)
		return -EINVAL;
	r = file_create(dir, name, &f);
	if (r < 0)
		return r;
	r = snapshot_begin_in(f, node_count, nodes);
	if (r < 0) {
		snapshot_file_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

/* The header of b, but for the checksums and what plan_layout() fills in. */
static void fill_header(struct snap_header *h, const struct snapshot_build *b,
                        const struct snapshot_kv_state *kv, uint64_t generation,
                        int64_t build_time_ns)
{
	memcpy(h->magic, SNAP_MAGIC, SNAP_MAGIC_LEN);
	h->version = SNAP_VERSION;
	h->generation = generation;
	h->build_time_ns = build_time_ns;
	h->kv_connected = kv && kv->connected ? 1 : 0;
	h->kv_flags =
	    (kv && kv->held ? SNAP_KV_HELD : 0) | (kv && kv->resyncing ? SNAP_KV_RESYNCING : 0);
	h->kv_last_sync_ns = kv ? kv->last_sync_ns : 0;
	h->kv_error_since_ns = kv ? kv->error_since_ns : 0;
	h->kv_held_removals = kv ? kv->held_removals : 0;
	h->files = b->files;
	h->directories = b->directories;
	h->total_bytes = b->total_bytes;
	h->skipped = b->skipped;
	h->hidden = b->hidden;
}

/* Cut f to size, hand it to b's before_rename, close it and rename it into place. */
static int file_finish(struct snapshot_file *f, const struct snapshot_build *b, uint64_t size)
{
	int r;

	/* A file prepared ahead may have room to spare: readers check the size. */
	if (f->allocated > size && ftruncate(f->fd, (off_t)size) < 0)
		return -errno;
	if (b->before_rename != NULL)
		b->before_rename(b->before_rename_ctx, f->fd,
		                 f->map != NULL && f->map_len >= size ? f->map : NULL, size);
	r = close(f->fd);
	f->fd = -1;
	if (r < 0)
		return -errno;
	if (rename(f->tmp, f->target) < 0)
		return -errno;
	f->renamed = true;
	return 0;
}

/*
 * Write the body into f (with in_place, behind the nodes already there), then the
 * header, and rename f into place.  A file mapped whole takes every section by
 * copy and the id index where it lies; any other file is streamed.
 */
static int write_file(struct snapshot_file *f, const struct snapshot_build *b,
                      struct snap_header *h, bool in_place, const char *kv_tail, size_t kv_tail_len)
{
	bool mapped = in_place && f->map_len >= h->total_size;
	struct out o = {.fd = f->fd};
	uint32_t *index;
	int r = -ENOMEM;

	if (mapped) {
		o.map = f->map;
		index = (uint32_t *)(o.map + h->index_off);
	} else {
		o.buf = malloc(OUT_BUF_SIZE);
		index = malloc((size_t)h->index_buckets * sizeof(*index));
		if (!o.buf || !index)
			goto out;
	}
	r = fill_index(b, h->index_buckets, index);
	if (r < 0)
		goto out;
	checksum_init(&o.body);
	/* A zero header holds the place; the real one is written once the body is hashed. */
	if (in_place)
		o.pos = h->nodes_off; /* the zero header and the nodes are in the file */
	else
		r = out_append(&o, &zero_header, sizeof(zero_header), false);
	if (r == 0)
		r = write_body(&o, b, index, kv_tail, kv_tail_len, h, in_place);
	if (r < 0)
		goto out;
	h->body_checksum = checksum_final(&o.body);
	h->header_checksum = 0;
	h->header_checksum = hash64(h, sizeof(*h), 0);
	if (mapped)
		memcpy(f->map, h, sizeof(*h));
	else
		r = pwrite_all(f->fd, h, sizeof(*h), 0);
	if (r == 0)
		r = file_finish(f, b, h->total_size);
out:
	if (!mapped) {
		free(o.buf);
		free(index);
	}
	return r;
}

int snapshot_write(const struct snapshot_build *b, const struct snapshot_kv_state *kv,
                   uint64_t generation, int64_t build_time_ns, const char *dir, const char *name)
{
	struct snap_header h = {0};
	struct snapshot_file *f = NULL;
	char *kv_tail = NULL;
	size_t kv_tail_len = 0;
	int r;

	if (!b)
		return -EINVAL;
	if (b->file &&
	    (b->file->renamed || b->file->fd < 0 || b->node_count != b->file->node_count ||
	     (char *)b->nodes != (char *)b->file->map + align8(sizeof(h))))
		return -EINVAL;
	if (!b->file && (!dir || check_name(name) < 0))
		return -EINVAL;
	r = check_sections(b);
	if (r < 0)
		return r;
	r = kv_strings(b, kv, &h, &kv_tail, &kv_tail_len);
	if (r < 0)
		return r;
	r = plan_layout(b, b->strings_base_size + b->strings_size + kv_tail_len, &h);
	if (r < 0)
		goto out;
	fill_header(&h, b, kv, generation, build_time_ns);
	if (b->file) {
		r = write_file(b->file, b, &h, true, kv_tail, kv_tail_len);
	} else {
		r = file_create(dir, name, &f);
		if (r == 0)
			r = write_file(f, b, &h, false, kv_tail, kv_tail_len);
		snapshot_file_free(f);
	}
out:
	free(kv_tail);
	return r;
}

void snapshot_build_free(struct snapshot_build *b)
{
	if (!b)
		return;
	if (b->file)
		snapshot_file_free(b->file);
	else
		free(b->nodes);
	free(b->props);
	free(b->rules);
	free(b->categories);
	free(b->skips);
	free(b->strings);
	free(b);
}
