/*
 * snapshot_reader: reads vfs.snapshot into private memory (or maps it, for the
 * writer's own file) and validates all of it before any caller sees a byte, then
 * answers lookups on the trusted data without further checks.  A reader's copy
 * does not change when the file does: a file truncated or overwritten in place
 * after the load neither faults nor shows through.
 *
 * Validation is one pass over the header, one over the nodes and one over the
 * index, in the order of docs/snapshot-format.md ("What a reader checks"): sizes
 * and checksums first (they catch truncation and random damage with the clearest
 * message), then every offset, count and string, then the tree's shape (a tree in
 * breadth-first order rooted at node 0, names sorted and unique per directory),
 * then the id index (every node found by its id, so ids are unique).  All arithmetic
 * on offsets is 64-bit on 32-bit quantities, so nothing here can overflow.  A large
 * snapshot is read (snapshot_load) and checked on two threads when the process may
 * use two CPUs: the body checksum and the index on a helper, the tables and the
 * nodes on the caller's; the verdict waits for both and gives the reason of the
 * first failure in the order above, as the checks in a row would.  The loops over
 * nodes, properties and the index ask for the strings and buckets of items a few
 * steps ahead, so that their cache misses overlap.  The nodes are proved a tree in
 * one walk (each directory's children checked as they come, not read again from
 * the directory); only a refused file is walked again the long way, for the reason.
 *
 * Lookups: by id through the index (linear probing, which ends at an empty bucket
 * that validation proved exists); a child by binary search over its directory's
 * slice; a path by its id (the hash of the path) confirmed through the parents, or
 * else by walking components.  Nothing here logs; a refusal comes back as -errno
 * with a one-line reason.  It does not write: a snapshot is immutable.
 */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checksum.h"
#include "hash.h"

/* From this size on, a private copy asks for transparent huge pages. */
#define COPY_HUGE_MIN (2u << 20)

/* From this size on, a snapshot is read and validated on two threads (snapshot.h). */
static atomic_size_t parallel_min = SNAPSHOT_PARALLEL_MIN;

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the snapshot is little-endian and read through structs in memory"
#endif

struct snapshot {
	const unsigned char *base;
	size_t size;
	size_t map_size; /* base is our mmap() of map_size bytes; 0: borrowed */

	const struct snap_header *hdr;
	const struct snap_node *nodes;
	uint32_t node_count;
	const uint32_t *index;
	uint32_t index_mask;
	const struct snap_prop *props;
	uint32_t prop_count;
	const struct snap_rule *rules;
	uint32_t rule_count;
	const struct snap_category *categories;
	uint32_t category_count;
	const struct snap_skip *skips;
	uint32_t skip_count;
	const char *strings;
	uint64_t strings_size;
};

static int bad(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* NULL when str is a valid string of s, else what is wrong with it. */
static const char *str_problem(const struct snapshot *s, struct snap_str str)
{
	uint64_t end = (uint64_t)str.off + str.len;

	if (end >= s->strings_size)
		return "out of bounds";
	if (s->strings[end] != '\0')
		return "not NUL-terminated";
	if (str.len && memchr(s->strings + str.off, '\0', str.len))
		return "contains NUL";
	return NULL;
}

/*
 * The checks of the nodes and properties follow their strings all over the string
 * section, one cache miss each: asked for this many items ahead, the misses overlap
 * instead of coming one after the other.
 */
#define AHEAD 16

/* Fetch the first and the last line of a string ahead of its check (no fault). */
static inline void prefetch_str(const struct snapshot *s, struct snap_str str)
{
	uint64_t end = (uint64_t)str.off + str.len;

	if (end < s->strings_size) {
		__builtin_prefetch(s->strings + str.off);
		__builtin_prefetch(s->strings + end);
	}
}

/*
 * A section of count items of size bytes at off: 8-aligned, after the header and
 * inside the file.  count and size are 32-bit, so their product fits 64 bits.
 */
static bool section_ok(const struct snap_header *h, uint64_t size, uint64_t off, uint64_t count,
                       uint64_t item)
{
	uint64_t bytes;

	if (off % 8 || off < h->header_size || off > size)
		return false;
	if (__builtin_mul_overflow(count, item, &bytes))
		return false;
	return bytes <= size - off;
}

/* Step 1 of "What a reader checks" and the header checksum. */
static int validate_header(struct snapshot *s, char *why, size_t wl)
{
	const struct snap_header *h = (const void *)s->base;
	const size_t csum_off = offsetof(struct snap_header, header_checksum);
	static const uint64_t zero;
	struct hash_state st;

	if (s->size < sizeof(*h))
		return bad(why, wl, "truncated: file is %zu bytes, smaller than a header (%zu)",
		           s->size, sizeof(*h));
	if (memcmp(h->magic, SNAP_MAGIC, SNAP_MAGIC_LEN) != 0)
		return bad(why, wl, "not a snapshot (bad magic)");
	if (h->version != SNAP_VERSION)
		return bad(why, wl, "unsupported format version %u (this reader knows %u)",
		           h->version, SNAP_VERSION);
	if (h->header_size < sizeof(*h))
		return bad(why, wl, "header size %u is smaller than %zu", h->header_size,
		           sizeof(*h));
	if (h->total_size != s->size) {
		if (h->total_size > s->size)
			return bad(why, wl, "truncated: file is %zu bytes, header says %llu",
			           s->size, (unsigned long long)h->total_size);
		return bad(why, wl, "file is %zu bytes, header says %llu", s->size,
		           (unsigned long long)h->total_size);
	}
	if (h->header_size > s->size)
		return bad(why, wl, "header size %u exceeds the file (%zu bytes)", h->header_size,
		           s->size);

	hash_init(&st, 0);
	hash_update(&st, s->base, csum_off);
	hash_update(&st, &zero, sizeof(zero));
	hash_update(&st, s->base + csum_off + sizeof(zero),
	            h->header_size - csum_off - sizeof(zero));
	if (hash_final(&st) != h->header_checksum)
		return bad(why, wl, "header checksum mismatch");
	return 0;
}

static bool body_checksum_ok(const struct snapshot *s)
{
	const struct snap_header *h = (const void *)s->base;

	return checksum64(s->base + h->header_size, s->size - h->header_size) == h->body_checksum;
}

/*
 * Steps 3 and 4: the header's counts and the sections' places, which only read the
 * header (and the string section's first and last byte).  After them every section
 * lies inside the file, so the checks that read the sections cannot go astray.
 */
static int validate_layout(struct snapshot *s, char *why, size_t wl)
{
	const struct snap_header *h = (const void *)s->base;

	if (h->node_size != sizeof(struct snap_node))
		return bad(why, wl, "node size %u, expected %zu", h->node_size,
		           sizeof(struct snap_node));
	if (h->node_count == 0)
		return bad(why, wl, "no nodes (the root is missing)");
	if (h->index_buckets == 0 || (h->index_buckets & (h->index_buckets - 1)) ||
	    h->index_buckets <= h->node_count)
		return bad(why, wl,
		           "index has %u buckets for %u nodes (needs a power of two above)",
		           h->index_buckets, h->node_count);

#define CHECK_SECTION(what, off, count, type)                                                   \
	if (!section_ok(h, s->size, (off), (count), sizeof(type)))                              \
		return bad(why, wl, "%s section (offset %llu, %llu x %zu bytes) out of bounds", \
		           (what), (unsigned long long)(off), (unsigned long long)(count),      \
		           sizeof(type));
	CHECK_SECTION("node", h->nodes_off, h->node_count, struct snap_node)
	CHECK_SECTION("index", h->index_off, h->index_buckets, uint32_t)
	CHECK_SECTION("property", h->props_off, h->prop_count, struct snap_prop)
	CHECK_SECTION("rule", h->rules_off, h->rule_count, struct snap_rule)
	CHECK_SECTION("category", h->categories_off, h->category_count, struct snap_category)
	CHECK_SECTION("skip", h->skips_off, h->skip_count, struct snap_skip)
	CHECK_SECTION("string", h->strings_off, h->strings_size, char)
#undef CHECK_SECTION
	if (h->strings_size == 0)
		return bad(why, wl, "string section is empty");

	s->hdr = h;
	s->nodes = (const void *)(s->base + h->nodes_off);
	s->node_count = h->node_count;
	s->index = (const void *)(s->base + h->index_off);
	s->index_mask = h->index_buckets - 1;
	s->props = (const void *)(s->base + h->props_off);
	s->prop_count = h->prop_count;
	s->rules = (const void *)(s->base + h->rules_off);
	s->rule_count = h->rule_count;
	s->categories = (const void *)(s->base + h->categories_off);
	s->category_count = h->category_count;
	s->skips = (const void *)(s->base + h->skips_off);
	s->skip_count = h->skip_count;
	s->strings = (const char *)(s->base + h->strings_off);
	s->strings_size = h->strings_size;

	if (s->strings[0] != '\0')
		return bad(why, wl, "string section does not start with \"\"");
	if (s->strings[s->strings_size - 1] != '\0')
		return bad(why, wl, "string section does not end with NUL");
	return 0;
}

/*
 * The checks of node i that read only the node, its predecessor and its strings,
 * in the order of step 6; the children of a directory are the caller's.
 */
static inline int check_node(const struct snapshot *s, uint32_t i, char *why, size_t wl)
{
	const struct snap_node *nodes = s->nodes, *nd = &nodes[i];
	const uint32_t n = s->node_count;
	const char *p;

	if (i + AHEAD < n) {
		prefetch_str(s, nodes[i + AHEAD].name);
		prefetch_str(s, nodes[i + AHEAD].source);
		prefetch_str(s, nodes[i + AHEAD].hash_id);
	}
	if (nd->type != SNAP_NODE_DIR && nd->type != SNAP_NODE_FILE)
		return bad(why, wl, "node %u: bad type %u", i, nd->type);
	if ((p = str_problem(s, nd->name)))
		return bad(why, wl, "node %u: name %s", i, p);
	if ((p = str_problem(s, nd->source)))
		return bad(why, wl, "node %u: source %s", i, p);
	if ((p = str_problem(s, nd->hash_id)))
		return bad(why, wl, "node %u: hash id %s", i, p);
	if ((uint64_t)nd->prop_first + nd->prop_count > s->prop_count)
		return bad(why, wl, "node %u: property range %u+%u out of bounds (%u)", i,
		           nd->prop_first, nd->prop_count, s->prop_count);

	if (i > 0) {
		const char *name = s->strings + nd->name.off;
		uint32_t len = nd->name.len;

		if (nd->id < SNAP_ID_RESERVED)
			return bad(why, wl, "node %u: reserved id %llu", i,
			           (unsigned long long)nd->id);
		if (nd->parent >= i)
			return bad(why, wl, "node %u: parent %u does not come before it", i,
			           nd->parent);
		if (len == 0)
			return bad(why, wl, "node %u: empty name", i);
		if (len > SNAP_NAME_MAX)
			return bad(why, wl, "node %u: name longer than %d bytes", i, SNAP_NAME_MAX);
		if (memchr(name, '/', len))
			return bad(why, wl, "node %u: name contains '/'", i);
		if (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')))
			return bad(why, wl, "node %u: name is \".\" or \"..\"", i);
		/*
		 * Siblings are contiguous (proved by the children's checks and the count
		 * after the walk), so comparing each node with the one before it when
		 * they share a parent covers every pair of neighbours.
		 */
		if (i > 1 && nodes[i - 1].parent == nd->parent) {
			const struct snap_node *prev = &nodes[i - 1];
			int c =
			    snap_name_cmp(s->strings + prev->name.off, prev->name.len, name, len);

			if (c == 0)
				return bad(why, wl, "node %u: duplicate name in directory %u", i,
				           nd->parent);
			if (c > 0)
				return bad(why, wl, "node %u: unsorted in directory %u", i,
				           nd->parent);
		}
	}

	if (nd->type == SNAP_NODE_FILE) {
		if (nd->child_count != 0)
			return bad(why, wl, "node %u: file with %u children", i, nd->child_count);
		if (nd->rule >= s->rule_count)
			return bad(why, wl, "node %u: rule %u out of bounds (%u)", i, nd->rule,
			           s->rule_count);
		if (nd->subdirs != 0)
			return bad(why, wl, "node %u: file with %u subdirectories", i, nd->subdirs);
		return 0;
	}
	if ((uint64_t)nd->first_child + nd->child_count > n)
		return bad(why, wl, "node %u: child range %u+%u out of bounds (%u nodes)", i,
		           nd->first_child, nd->child_count, n);
	if (nd->child_count == 0 && nd->subdirs != 0)
		return bad(why, wl, "node %u: %u subdirectories, but no children", i, nd->subdirs);
	if (nd->child_count != 0 && nd->first_child <= i)
		return bad(why, wl, "node %u: first child %u does not come after it", i,
		           nd->first_child);
	return 0;
}

static int check_root(const struct snapshot *s, char *why, size_t wl)
{
	const struct snap_node *root = &s->nodes[0];

	if (root->id != SNAP_ROOT_ID || root->type != SNAP_NODE_DIR || root->parent != 0 ||
	    root->name.len != 0)
		return bad(why, wl, "node 0 is not the root (id %llu, type %u, parent %u)",
		           (unsigned long long)root->id, root->type, root->parent);
	return 0;
}

/*
 * Step 6, each directory's children walked from the directory: the checks in the
 * order of docs/snapshot-format.md, and the reason of the first that fails.
 */
static int validate_nodes(const struct snapshot *s, char *why, size_t wl)
{
	const struct snap_node *nodes = s->nodes;
	const uint32_t n = s->node_count;
	uint64_t claimed = 0;
	int r;

	r = check_root(s, why, wl);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < n; i++) {
		const struct snap_node *nd = &nodes[i];
		uint32_t subdirs = 0;

		r = check_node(s, i, why, wl);
		if (r < 0)
			return r;
		if (nd->type == SNAP_NODE_FILE || nd->child_count == 0)
			continue;
		for (uint32_t j = nd->first_child; j < nd->first_child + nd->child_count; j++) {
			if (nodes[j].parent != i)
				return bad(why, wl, "node %u: parent %u, but directory %u lists it",
				           j, nodes[j].parent, i);
			subdirs += nodes[j].type == SNAP_NODE_DIR;
		}
		if (subdirs != nd->subdirs)
			return bad(why, wl,
			           "node %u: %u subdirectories, but %u of its children are", i,
			           nd->subdirs, subdirs);
		claimed += nd->child_count;
	}
	/*
	 * Each child names the directory that lists it, so no node is listed twice; with
	 * n - 1 listed, none of them the root, every node but the root has exactly one
	 * parent, which comes before it: a tree.
	 */
	if (claimed != (uint64_t)n - 1)
		return bad(why, wl, "directories list %llu children, expected %u",
		           (unsigned long long)claimed, n - 1);
	return 0;
}

/*
 * Step 6 in one walk over the nodes instead of two: a directory's children are
 * checked from their side, as a run of consecutive nodes naming it as their
 * parent, which must start at its first_child and end after child_count nodes,
 * subdirs of them directories, each run starting where the one before it ended
 * and the last one ending with the nodes.  The runs then cover every node but the
 * root once, and with the child counts adding up to n - 1 every directory with
 * children has its run: what validate_nodes() proves, and in a file it accepts the
 * runs are exactly the child ranges, so this accepts the same files.  It says
 * only yes or no (no reason, and it may stop at another fault than the first):
 * on no, validate_nodes() decides and says why.
 */
static bool nodes_ok_one_walk(const struct snapshot *s)
{
	const struct snap_node *nodes = s->nodes;
	const uint32_t n = s->node_count;
	uint64_t claimed;
	uint32_t parent = UINT32_MAX, run_end = 1, subdirs = 0, want_subdirs = 0;

	if (check_root(s, NULL, 0) < 0 || check_node(s, 0, NULL, 0) < 0)
		return false;
	claimed = nodes[0].child_count;
	for (uint32_t i = 1; i < n; i++) {
		const struct snap_node *nd = &nodes[i];

		if (check_node(s, i, NULL, 0) < 0)
			return false;
		if (nd->type == SNAP_NODE_DIR)
			claimed += nd->child_count;
		if (nd->parent != parent) {
			/*
			 * A run starts: check_node() proved that its parent comes before
			 * it and that the parent's range fits the nodes.  A parent without
			 * children (a file has none) makes an empty run, which the next
			 * start or the end refuses.
			 */
			const struct snap_node *dir = &nodes[nd->parent];

			if (i != run_end || dir->first_child != i)
				return false;
			parent = nd->parent;
			run_end = i + dir->child_count;
			want_subdirs = dir->subdirs;
			subdirs = 0;
		}
		subdirs += nd->type == SNAP_NODE_DIR;
		if (i + 1 == run_end && subdirs != want_subdirs)
			return false;
	}
	/* A run longer than its range is met by the next run's start, or here. */
	return run_end == n && claimed == (uint64_t)n - 1;
}

static int validate_index(const struct snapshot *s, char *why, size_t wl)
{
	const uint32_t buckets = s->index_mask + 1, n = s->node_count;
	uint64_t used = 0;
	bool beyond = false;

	/* Without a branch per bucket (an empty bucket's value + 1 is 0). */
	for (uint32_t b = 0; b < buckets; b++) {
		uint32_t v1 = s->index[b] + 1;

		used += v1 != 0;
		beyond |= v1 > n;
	}
	for (uint32_t b = 0; beyond; b++) {
		uint32_t v = s->index[b];

		if (v != SNAP_INDEX_EMPTY && v >= n)
			return bad(why, wl, "index bucket %u: node %u out of bounds (%u nodes)", b,
			           v, n);
	}
	/* With at most node_count < buckets used, every probe ends at an empty bucket. */
	if (used != n)
		return bad(why, wl, "index holds %llu entries for %u nodes",
		           (unsigned long long)used, n);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t id = s->nodes[i].id;
		uint32_t p = (uint32_t)(id & s->index_mask);

		/*
		 * Each probe starts with two misses that do not depend on the probes
		 * before it: the home bucket, then the node it holds when that is not
		 * node i.  Ask for the bucket 2 x AHEAD nodes ahead and for its node
		 * AHEAD nodes ahead, when the bucket has come.
		 */
		if (i + 2 * AHEAD < n)
			__builtin_prefetch(&s->index[s->nodes[i + 2 * AHEAD].id & s->index_mask]);
		if (i + AHEAD < n) {
			uint32_t v = s->index[s->nodes[i + AHEAD].id & s->index_mask];

			if (v != SNAP_INDEX_EMPTY && v != i + AHEAD)
				__builtin_prefetch(&s->nodes[v]);
		}
		for (;;) {
			uint32_t v = s->index[p];

			if (v == i)
				break;
			if (v == SNAP_INDEX_EMPTY)
				return bad(why, wl, "node %u: id %llu not found in the index", i,
				           (unsigned long long)id);
			if (s->nodes[v].id == id)
				return bad(why, wl, "nodes %u and %u share the id %llu", v, i,
				           (unsigned long long)id);
			p = (p + 1) & s->index_mask;
		}
	}
	return 0;
}

static int validate_tables(const struct snapshot *s, char *why, size_t wl)
{
	const struct snap_header *h = s->hdr;
	const char *p;

	for (uint32_t i = 0; i < s->prop_count; i++) {
		if (i + AHEAD < s->prop_count) {
			prefetch_str(s, s->props[i + AHEAD].key);
			prefetch_str(s, s->props[i + AHEAD].value);
		}
		if ((p = str_problem(s, s->props[i].key)))
			return bad(why, wl, "property %u: key %s", i, p);
		if ((p = str_problem(s, s->props[i].value)))
			return bad(why, wl, "property %u: value %s", i, p);
	}
	for (uint32_t i = 0; i < s->rule_count; i++)
		if ((p = str_problem(s, s->rules[i].name)))
			return bad(why, wl, "rule %u: name %s", i, p);
	for (uint32_t i = 0; i < s->category_count; i++)
		if ((p = str_problem(s, s->categories[i].name)))
			return bad(why, wl, "category %u: name %s", i, p);
	for (uint32_t i = 0; i < s->skip_count; i++) {
		if ((p = str_problem(s, s->skips[i].reason)))
			return bad(why, wl, "skip %u: reason %s", i, p);
		if ((p = str_problem(s, s->skips[i].example)))
			return bad(why, wl, "skip %u: example %s", i, p);
	}
	if ((p = str_problem(s, h->kv_error)))
		return bad(why, wl, "kv error text %s", p);
	if ((p = str_problem(s, h->kv_leader)))
		return bad(why, wl, "kv leader %s", p);
	return 0;
}

/*
 * A helper thread, started with every signal blocked (the caller's handlers and
 * signalfd stay the caller's business).  false when it could not start: the
 * caller then does the work itself.
 */
static bool start_helper(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	bool started;

	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
		return false;
	started = pthread_create(t, NULL, fn, arg) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return started;
}

/*
 * Whether a snapshot of size bytes is worth a second thread: it is large enough
 * and this thread may run on two CPUs (a process pinned to one gains nothing).
 */
static bool use_helper(size_t size)
{
	size_t min = atomic_load_explicit(&parallel_min, memory_order_relaxed);
	cpu_set_t cpus;

	if (min == 0)
		return true; /* asked for: tests take both ways on any machine */
	if (size < min)
		return false;
	if (sched_getaffinity(0, sizeof(cpus), &cpus) < 0)
		return false;
	return CPU_COUNT(&cpus) >= 2;
}

/*
 * The helper's share of a large snapshot's validation: the body checksum and the
 * index (steps 2 and 7), which read nothing that the table and node checks decide
 * (the layout checks before them put every section inside the file).
 */
struct index_and_checksum {
	const struct snapshot *s;
	bool checksum_ok;
	int r;
	char why[256];
};

static void *check_index_and_checksum(void *arg)
{
	struct index_and_checksum *job = arg;

	job->checksum_ok = body_checksum_ok(job->s);
	job->r = validate_index(job->s, job->why, sizeof(job->why));
	return NULL;
}

/*
 * The checks of "What a reader checks", and the reason of the first that fails in
 * that order.  A large snapshot on a machine with two CPUs has its body checksum
 * and its index checked on a second thread while this one checks the tables and
 * the nodes; the verdict waits for both and takes the first failure in the same
 * order, so the reason is the one the checks in a row would give.
 */
static int validate(struct snapshot *s, char *why, size_t wl)
{
	struct index_and_checksum job = {.s = s};
	pthread_t helper;
	int r;

	r = validate_header(s, why, wl);
	if (r < 0)
		return r;
	r = validate_layout(s, why, wl);
	if (r == 0 && use_helper(s->size) &&
	    start_helper(&helper, check_index_and_checksum, &job)) {
		r = validate_tables(s, why, wl);
		if (r == 0 && !nodes_ok_one_walk(s))
			r = validate_nodes(s, why, wl);
		pthread_join(helper, NULL);
		if (!job.checksum_ok)
			return bad(why, wl, "body checksum mismatch");
		if (r == 0 && job.r < 0)
			r = bad(why, wl, "%s", job.why);
		return r;
	}
	/* In a row; a layout already refused still yields to a checksum mismatch. */
	if (!body_checksum_ok(s))
		return bad(why, wl, "body checksum mismatch");
	if (r < 0)
		return r;
	r = validate_tables(s, why, wl);
	if (r < 0)
		return r;
	if (!nodes_ok_one_walk(s)) {
		r = validate_nodes(s, why, wl);
		if (r < 0)
			return r;
	}
	return validate_index(s, why, wl);
}

void snapshot_set_parallel_min(size_t bytes)
{
	atomic_store_explicit(&parallel_min, bytes, memory_order_relaxed);
}

static void set_err(char *err, size_t errlen, const char *prefix, const char *why)
{
	if (!err || !errlen)
		return;
	if (prefix)
		snprintf(err, errlen, "%s: %s", prefix, why);
	else
		snprintf(err, errlen, "%s", why);
}

int snapshot_open_buffer(const void *data, size_t size, struct snapshot **ret, char *err,
                         size_t errlen)
{
	struct snapshot *s;
	char why[256];
	int r;

	if (!data || !ret || ((uintptr_t)data & 7)) {
		set_err(err, errlen, NULL, "snapshot buffer missing or not 8-byte aligned");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, errlen, NULL, "out of memory");
		return -ENOMEM;
	}
	s->base = data;
	s->size = size;
	why[0] = '\0';
	r = validate(s, why, sizeof(why));
	if (r < 0) {
		set_err(err, errlen, NULL, why);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* One part of a copy: fd's bytes [from, to) into map at the same offsets. */
struct copy_part {
	int fd;
	unsigned char *map;
	size_t from, to;
	size_t end; /* where the reading stopped: to, or where the file ended */
	int r;      /* 0, -EBADMSG when the file ended early, or the read's -errno */
};

static void read_part(struct copy_part *c)
{
	size_t done = c->from;

	c->r = 0;
	while (done < c->to) {
		ssize_t n = pread(c->fd, c->map + done, c->to - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			c->r = n < 0 ? -errno : -EBADMSG;
			break;
		}
		done += (size_t)n;
	}
	c->end = done;
}

static void *read_part_thread(void *arg)
{
	read_part(arg);
	return NULL;
}

/*
 * Read size bytes of fd into fresh private memory, read-only once filled.  read(2)
 * never faults: a file cut short while it is read is a short count, reported as
 * a refusal.  Large copies ask for transparent huge pages (fewer TLB misses on
 * lookups); the kernel may say no.  A large file is read in two halves on two
 * threads: the kernel's work (clearing the new pages, copying into them) is most
 * of a copy's time, and it splits.
 */
static int copy_in(int fd, size_t size, void **ret_map, size_t *ret_map_size, char *why, size_t wl)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t map_size = (size + (size_t)page - 1) & ~((size_t)page - 1);
	struct copy_part head = {.fd = fd, .from = 0, .to = size}, tail = head;
	const struct copy_part *failed = NULL;
	unsigned char *map;
	pthread_t helper;
	bool split = false;
	int r;

	map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		r = -errno;
		snprintf(why, wl, "copying %zu bytes: %s", size, strerror(-r));
		return r;
	}
	if (size >= COPY_HUGE_MIN)
		(void)madvise(map, map_size, MADV_HUGEPAGE);
	head.map = tail.map = map;
	tail.from = (size / 2) & ~((size_t)page - 1);
	if (tail.from > 0 && use_helper(size)) {
		split = start_helper(&helper, read_part_thread, &tail);
		if (split)
			head.to = tail.from;
	}
	read_part(&head);
	if (split)
		pthread_join(helper, NULL);
	/* The first failure in the file's order: the head's, else the tail's. */
	if (head.r < 0)
		failed = &head;
	else if (split && tail.r < 0)
		failed = &tail;
	if (failed != NULL && failed->r == -EBADMSG)
		snprintf(why, wl, "truncated while being read: %zu of %zu bytes", failed->end,
		         size);
	else if (failed != NULL)
		snprintf(why, wl, "read: %s", strerror(-failed->r));
	if (failed != NULL) {
		munmap(map, map_size);
		return failed->r;
	}
	if (mprotect(map, map_size, PROT_READ) < 0) {
		r = -errno;
		snprintf(why, wl, "mprotect: %s", strerror(-r));
		munmap(map, map_size);
		return r;
	}
	*ret_map = map;
	*ret_map_size = map_size;
	return 0;
}

/* How open_fd() takes the file's bytes in. */
enum take {
	TAKE_MAP,    /* MAP_PRIVATE of the file: the caller alone may change it */
	TAKE_COPY,   /* read into private memory */
	TAKE_SHARED, /* MAP_SHARED of a sealed copy, its pages given back once validated */
};

/* Map (or read) the snapshot in fd as take says and validate it. */
static int open_fd(int fd, const char *name, enum take take, struct snapshot **ret, char *err,
                   size_t errlen)
{
	struct snapshot *s;
	struct stat st;
	char why[256];
	void *map = NULL;
	size_t size, map_size = 0;
	int r;

	if (!ret) {
		set_err(err, errlen, name, "no place for the result");
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		set_err(err, errlen, name, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, name, "not a regular file");
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		set_err(err, errlen, name, "file too large to map");
		return -EFBIG;
	}
	size = (size_t)st.st_size;
	if (size < sizeof(struct snap_header)) {
		snprintf(why, sizeof(why),
		         "truncated: file is %zu bytes, smaller than a header (%zu)", size,
		         sizeof(struct snap_header));
		set_err(err, errlen, name, why);
		return -EBADMSG;
	}
	if (take == TAKE_SHARED) {
		int seals = fcntl(fd, F_GET_SEALS);

		if (seals < 0 ||
		    (seals & (F_SEAL_SHRINK | F_SEAL_WRITE)) != (F_SEAL_SHRINK | F_SEAL_WRITE)) {
			set_err(err, errlen, name, "not sealed against shrinking and writing");
			return -EPERM;
		}
	}
	if (take == TAKE_COPY) {
		r = copy_in(fd, size, &map, &map_size, why, sizeof(why));
		if (r < 0) {
			set_err(err, errlen, name, why);
			return r;
		}
	} else {
		/* On two threads each faults in the pages it checks first. */
		map = mmap(NULL, size, PROT_READ,
		           (take == TAKE_SHARED ? MAP_SHARED : MAP_PRIVATE) |
		               (use_helper(size) ? 0 : MAP_POPULATE),
		           fd, 0);
		if (map == MAP_FAILED) {
			r = -errno;
			snprintf(why, sizeof(why), "mmap: %s", strerror(-r));
			set_err(err, errlen, name, why);
			return r;
		}
		map_size = size;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		munmap(map, map_size);
		set_err(err, errlen, name, "out of memory");
		return -ENOMEM;
	}
	s->base = map;
	s->size = size;
	s->map_size = map_size;
	/*
	 * A child never needs the tree (fused's unmounter, a hook before its exec):
	 * inheriting it would keep this generation's pages alive for the child's
	 * whole life, long after the parent let the generation go.
	 */
	(void)madvise(map, map_size, MADV_DONTFORK);
	why[0] = '\0';
	r = validate(s, why, sizeof(why));
	if (r < 0) {
		set_err(err, errlen, name, why);
		snapshot_free(s);
		return r;
	}
	/*
	 * The validation touched every page; the reader's lookups touch a few.  The
	 * pages stay in the copy (its owner holds them), only this process's page
	 * tables let go, and the reader's memory is what it uses.
	 */
	if (take == TAKE_SHARED)
		(void)madvise(map, map_size, MADV_DONTNEED);
	*ret = s;
	return 0;
}

static int open_path(const char *path, enum take take, struct snapshot **ret, char *err,
                     size_t errlen)
{
	int fd, r;

	if (!path) {
		set_err(err, errlen, NULL, "no snapshot path");
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		set_err(err, errlen, path, strerror(-r));
		return r;
	}
	r = open_fd(fd, path, take, ret, err, errlen);
	close(fd);
	return r;
}

int snapshot_open_fd(int fd, struct snapshot **ret, char *err, size_t errlen)
{
	return open_fd(fd, NULL, TAKE_MAP, ret, err, errlen);
}

int snapshot_open(const char *path, struct snapshot **ret, char *err, size_t errlen)
{
	return open_path(path, TAKE_MAP, ret, err, errlen);
}

int snapshot_load_fd(int fd, struct snapshot **ret, char *err, size_t errlen)
{
	return open_fd(fd, NULL, TAKE_COPY, ret, err, errlen);
}

int snapshot_load(const char *path, struct snapshot **ret, char *err, size_t errlen)
{
	return open_path(path, TAKE_COPY, ret, err, errlen);
}

int snapshot_map_sealed_fd(int fd, struct snapshot **ret, char *err, size_t errlen)
{
	return open_fd(fd, NULL, TAKE_SHARED, ret, err, errlen);
}

void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	if (s->map_size)
		munmap((void *)s->base, s->map_size);
	free(s);
}

const struct snap_header *snapshot_header(const struct snapshot *s)
{
	return s->hdr;
}

uint64_t snapshot_generation(const struct snapshot *s)
{
	return s->hdr->generation;
}

const char *snapshot_str(const struct snapshot *s, struct snap_str str)
{
	return s->strings + str.off;
}

uint32_t snapshot_node_count(const struct snapshot *s)
{
	return s->node_count;
}

const struct snap_node *snapshot_root(const struct snapshot *s)
{
	return &s->nodes[0];
}

const struct snap_node *snapshot_node(const struct snapshot *s, uint32_t index)
{
	return index < s->node_count ? &s->nodes[index] : NULL;
}

uint32_t snapshot_node_index(const struct snapshot *s, const struct snap_node *node)
{
	return (uint32_t)(node - s->nodes);
}

const struct snap_node *snapshot_lookup_id(const struct snapshot *s, uint64_t id)
{
	uint32_t p = (uint32_t)(id & s->index_mask);

	for (;;) {
		uint32_t v = s->index[p];

		if (v == SNAP_INDEX_EMPTY)
			return NULL;
		if (s->nodes[v].id == id)
			return &s->nodes[v];
		p = (p + 1) & s->index_mask;
	}
}

const struct snap_node *snapshot_lookup_child(const struct snapshot *s, const struct snap_node *dir,
                                              const char *name, size_t len)
{
	uint32_t lo, hi;

	if (!dir || dir->type != SNAP_NODE_DIR)
		return NULL;
	lo = dir->first_child;
	hi = lo + dir->child_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct snap_node *c = &s->nodes[mid];
		int cmp = snap_name_cmp(s->strings + c->name.off, c->name.len, name, len);

		if (cmp == 0)
			return c;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The walk: one binary search per component.  It alone decides errors, so they
 * come in component order ("/missing/<300 bytes>" is -ENOENT).
 */
static int walk_path(const struct snapshot *s, const char *p, const char *end,
                     const struct snap_node **ret)
{
	const struct snap_node *n = &s->nodes[0];

	for (;;) {
		const char *slash;
		size_t len;

		while (p < end && *p == '/')
			p++;
		if (p == end)
			break;
		slash = memchr(p, '/', (size_t)(end - p));
		len = slash ? (size_t)(slash - p) : (size_t)(end - p);
		if (len > SNAP_NAME_MAX)
			return -ENAMETOOLONG;
		if (n->type != SNAP_NODE_DIR)
			return -ENOTDIR;
		n = snapshot_lookup_child(s, n, p, len);
		if (!n)
			return -ENOENT;
		p += len;
	}
	*ret = n;
	return 0;
}

/*
 * A node's id is the hash of its canonical path, so an existing path is usually
 * one index probe away: hash the canonical form, look the id up, and confirm the
 * node's path by walking its parents (a few cache lines instead of a binary search
 * per component).  A miss, or a node whose id was rehashed after a collision, falls
 * back to the walk, which gives the same answer.
 */
#define FAST_PATH_DEPTH 64

/*
 * The fast path: every prefix of the path is hashed as it is read (the hash
 * streams, so "/a" and "/a/b" cost one pass) and each prefix's node is found by
 * its id.  These probes do not depend on each other, so the CPU overlaps their
 * cache misses; the result is then proved exactly: each node's parent is the
 * previous prefix's node and its name is the component.  Anything else (a
 * collided id, a missing name, a deep path) goes to the walk, which decides.
 */
static const struct snap_node *lookup_by_prefix_ids(const struct snapshot *s, const char *p,
                                                    const char *end)
{
	struct {
		const char *name;
		size_t len;
		uint64_t id;
	} comp[FAST_PATH_DEPTH];
	const struct snap_node *node[FAST_PATH_DEPTH];
	struct hash_state st;
	size_t depth = 0;

	hash_init(&st, 0);
	for (;;) {
		const char *slash;
		size_t len;

		while (p < end && *p == '/')
			p++;
		if (p == end)
			break;
		if (depth == FAST_PATH_DEPTH)
			return NULL;
		slash = memchr(p, '/', (size_t)(end - p));
		len = slash ? (size_t)(slash - p) : (size_t)(end - p);
		hash_update(&st, "/", 1);
		hash_update(&st, p, len);
		comp[depth].name = p;
		comp[depth].len = len;
		comp[depth].id = hash_final(&st);
		depth++;
		p += len;
	}
	if (depth == 0)
		return &s->nodes[0];
	/* Start every memory access of one round before waiting on any of them. */
	for (size_t k = 0; k < depth; k++)
		__builtin_prefetch(&s->index[comp[k].id & s->index_mask]);
	for (size_t k = 0; k < depth; k++) {
		uint32_t v = s->index[comp[k].id & s->index_mask];

		if (v != SNAP_INDEX_EMPTY)
			__builtin_prefetch(&s->nodes[v]);
	}
	for (size_t k = 0; k < depth; k++) {
		node[k] = snapshot_lookup_id(s, comp[k].id);
		if (node[k] != NULL)
			__builtin_prefetch(s->strings + node[k]->name.off);
	}
	for (size_t k = 0; k < depth; k++) {
		const struct snap_node *n = node[k];
		uint32_t parent = k == 0 ? 0 : (uint32_t)(node[k - 1] - s->nodes);

		if (n == NULL || n->parent != parent || n->name.len != comp[k].len ||
		    memcmp(s->strings + n->name.off, comp[k].name, comp[k].len) != 0)
			return NULL;
	}
	return node[depth - 1];
}

int snapshot_lookup_path(const struct snapshot *s, const char *path, const struct snap_node **ret)
{
	size_t len = strnlen(path, SNAP_PATH_MAX + 1);
	const struct snap_node *n;

	if (len > SNAP_PATH_MAX)
		return -ENAMETOOLONG;
	n = lookup_by_prefix_ids(s, path, path + len);
	if (n != NULL) {
		*ret = n;
		return 0;
	}
	return walk_path(s, path, path + len, ret);
}

const struct snap_node *snapshot_children(const struct snapshot *s, const struct snap_node *dir,
                                          uint32_t *ret_count)
{
	if (!dir || dir->type != SNAP_NODE_DIR) {
		*ret_count = 0;
		return NULL;
	}
	*ret_count = dir->child_count;
	return &s->nodes[dir->first_child];
}

const struct snap_node *snapshot_parent(const struct snapshot *s, const struct snap_node *node)
{
	if (node == &s->nodes[0])
		return NULL;
	return &s->nodes[node->parent];
}

int snapshot_node_path(const struct snapshot *s, const struct snap_node *node, char *buf,
                       size_t buflen)
{
	const struct snap_node *root = &s->nodes[0];
	size_t len = 0, pos;

	if (node == root) {
		if (buflen < 2)
			return -ENAMETOOLONG;
		memcpy(buf, "/", 2);
		return 1;
	}
	/* Parents come before their children, so both walks end at the root. */
	for (const struct snap_node *n = node; n != root; n = &s->nodes[n->parent]) {
		len += 1 + n->name.len;
		if (len >= buflen || len > INT_MAX)
			return -ENAMETOOLONG;
	}
	pos = len;
	buf[pos] = '\0';
	for (const struct snap_node *n = node; n != root; n = &s->nodes[n->parent]) {
		pos -= n->name.len;
		memcpy(buf + pos, s->strings + n->name.off, n->name.len);
		buf[--pos] = '/';
	}
	return (int)len;
}

const struct snap_prop *snapshot_props(const struct snapshot *s, const struct snap_node *node,
                                       uint32_t *ret_count)
{
	*ret_count = node->prop_count;
	return &s->props[node->prop_first];
}

const char *snapshot_prop(const struct snapshot *s, const struct snap_node *node, const char *key)
{
	size_t klen = strlen(key);

	for (uint32_t i = 0; i < node->prop_count; i++) {
		const struct snap_prop *pr = &s->props[node->prop_first + i];

		if (pr->key.len == klen && memcmp(s->strings + pr->key.off, key, klen) == 0)
			return s->strings + pr->value.off;
	}
	return NULL;
}

const struct snap_rule *snapshot_rules(const struct snapshot *s, uint32_t *ret_count)
{
	*ret_count = s->rule_count;
	return s->rules;
}

const struct snap_category *snapshot_categories(const struct snapshot *s, uint32_t *ret_count)
{
	*ret_count = s->category_count;
	return s->categories;
}

const struct snap_skip *snapshot_skips(const struct snapshot *s, uint32_t *ret_count)
{
	*ret_count = s->skip_count;
	return s->skips;
}
