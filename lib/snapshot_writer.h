/*
 * snapshot_writer: serialises an in-memory tree (struct snapshot_build, made by
 * tree_build() in lib/tree.c or by hand in tests) into vfs.snapshot.
 *
 * The writer adds what the tree does not know: the id index, the KV state, the
 * generation, the checksums.  It writes a temporary file beside the target and
 * rename()s it into place, so a reader sees the old file or the new one, never a
 * partial one.  It does not log; it returns -errno.
 */
#ifndef MF_SNAPSHOT_WRITER_H
#define MF_SNAPSHOT_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot_format.h"

/*
 * The tree in snapshot layout.  Every snap_str indexes strings; strings[0] is
 * "\0" so that {0, 0} is the empty string.  Nodes are in breadth-first order,
 * node 0 the root, each directory's children contiguous and sorted by name.
 * Owner: whoever built it (tree_build() returns one the caller frees with
 * snapshot_build_free()).
 */
struct snapshot_build {
	struct snap_node *nodes;
	uint32_t node_count;
	struct snap_prop *props;
	uint32_t prop_count;
	struct snap_rule *rules;
	uint32_t rule_count;
	struct snap_category *categories;
	uint32_t category_count;
	struct snap_skip *skips;
	uint32_t skip_count;
	char *strings;
	uint64_t strings_size;

	/*
	 * tree_patch() continues the previous snapshot's strings and properties
	 * instead of copying them: the strings section is strings_base[0 ..
	 * strings_base_size) followed by strings[0 .. strings_size), every snap_str
	 * offset counting from the start of strings_base, and the props section is
	 * props_base[0 .. props_base_count) followed by props[0 .. prop_count), every
	 * prop_first counting from props_base.  Borrowed from a mapping that must
	 * outlive the build; NULL and 0 in a build made from scratch.  Read through
	 * snapshot_build_str() and snapshot_build_prop().
	 */
	const char *strings_base;
	uint64_t strings_base_size;
	const struct snap_prop *props_base;
	uint32_t props_base_count;

	/*
	 * Set when nodes is not an array of the builder's but the node section of a
	 * file being written (snapshot_begin()); the build owns the file, and
	 * snapshot_write() finishes it in place.
	 */
	struct snapshot_file *file;

	/*
	 * Called with the finished file (header written, size final) just before it
	 * is renamed into place, with its bytes when the writer has it mapped whole
	 * (else data is NULL); NULL: nothing.  kvwatch makes the readers' shared
	 * copy here (snapshot_share.h), so that it is served before the file is seen.
	 */
	void (*before_rename)(void *ctx, int fd, const void *data, uint64_t size);
	void *before_rename_ctx;

	uint64_t files;
	uint64_t directories;
	uint64_t total_bytes;
	uint64_t skipped;
	uint64_t hidden;
};

void snapshot_build_free(struct snapshot_build *b);

/* The string s of b, in its base or its own part. */
static inline const char *snapshot_build_str(const struct snapshot_build *b, struct snap_str s)
{
	if (s.off < b->strings_base_size)
		return b->strings_base + s.off;
	return b->strings + (s.off - b->strings_base_size);
}

/* Property k of b (counting from props_base). */
static inline const struct snap_prop *snapshot_build_prop(const struct snapshot_build *b,
                                                          uint32_t k)
{
	if (k < b->props_base_count)
		return &b->props_base[k];
	return &b->props[k - b->props_base_count];
}

/* The KV state stamped into a snapshot; strings are copied into the file. */
struct snapshot_kv_state {
	bool connected;
	bool held;      /* a large removal is held back */
	bool resyncing; /* a warm start's tree, still waiting for its first load */
	uint64_t held_removals;
	int64_t last_sync_ns;   /* 0 = never */
	int64_t error_since_ns; /* 0 = no error */
	const char *error;      /* NULL or "" when none */
	const char *leader;     /* Redis URL without credentials, NULL when unknown */
};

/*
 * Write b as generation `generation` to dir/name (normally SNAP_FILE_NAME), through
 * a temporary file in dir and rename().  Returns 0 or -errno (-EOVERFLOW when the
 * tree does not fit the format's 32-bit counts and offsets).  A build whose nodes
 * are in a file of snapshot_begin() is finished in that file, which was made for
 * its dir/name when it began; dir and name are then not used.
 */
int snapshot_write(const struct snapshot_build *b, const struct snapshot_kv_state *kv,
                   uint64_t generation, int64_t build_time_ns, const char *dir, const char *name);

/*
 * Writing in place, for a builder that would otherwise fill a node array only to
 * have it copied into the file (tree_patch(): a live update rewrites every node):
 * snapshot_begin() creates the temporary file for dir/name with room for
 * node_count nodes and maps its node section; the builder fills the node_count
 * nodes at *nodes, sets b->nodes and b->file, and snapshot_write() writes the rest
 * behind them.  Until the rename the file is invisible to readers.  The pages are
 * written once, and no node array of the builder's costs memory.
 */
struct snapshot_file;
int snapshot_begin(const char *dir, const char *name, uint32_t node_count,
                   struct snapshot_file **ret, struct snap_node **nodes);
/* Unmap and close; the temporary file goes unless snapshot_write() renamed it. */
void snapshot_file_free(struct snapshot_file *f);

/*
 * The same in two steps, so that the file's pages can be allocated ahead, off the
 * path of the update that will fill them (kvwatch does it on a thread while it
 * fetches the changed records and patches the tree): snapshot_prepare() creates
 * the temporary file for dir/name with size bytes allocated and mapped, page
 * tables filled; snapshot_begin_in() hands out its node section (mapping more if
 * the nodes do not fit).  When the whole snapshot fits the prepared size,
 * snapshot_write() copies the other sections into the mapping; otherwise it
 * streams them behind the nodes.  It cuts the file to its final size.
 */
int snapshot_prepare(const char *dir, const char *name, uint64_t size, struct snapshot_file **ret);
int snapshot_begin_in(struct snapshot_file *f, uint32_t node_count, struct snap_node **nodes);

#endif
