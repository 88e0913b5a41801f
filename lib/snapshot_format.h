/*
 * snapshot_format: the byte layout of vfs.snapshot, shared by the writer (kvwatch)
 * and every reader (fused, davd, apid, meta-fuse dump).
 *
 * One position-independent file: offsets, never pointers; fixed-width little-endian
 * fields; every section starts on an 8-byte boundary.  docs/snapshot-format.md is
 * the prose description of the same layout; the two change together, and a change
 * that an old reader could misread bumps SNAP_VERSION.
 *
 *   header (struct snap_header, header_size bytes)
 *   nodes       node_count   x struct snap_node   (breadth-first; node 0 is the root)
 *   index       index_buckets x uint32_t          (node index by id, open addressing)
 *   props       prop_count   x struct snap_prop   (metadata of files, for xattrs/API)
 *   rules       rule_count   x struct snap_rule
 *   categories  category_count x struct snap_category
 *   skips       skip_count   x struct snap_skip
 *   strings     strings_size bytes: NUL-terminated strings; offset 0 is ""
 */
#ifndef MF_SNAPSHOT_FORMAT_H
#define MF_SNAPSHOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SNAP_MAGIC         "MFSNAP\r\n" /* 8 bytes; CR LF catches text-mode mangling */
#define SNAP_MAGIC_LEN     8
#define SNAP_VERSION       3
#define SNAP_FILE_NAME     "vfs.snapshot"
#define SNAP_ROOT_ID       1  /* FUSE_ROOT_ID */
#define SNAP_ERROR_FILE_ID 2  /* fused's virtual ERROR.txt */
#define SNAP_ID_RESERVED   16 /* ids below this are never given to a node but the root */
#define SNAP_INDEX_EMPTY   UINT32_MAX
#define SNAP_NAME_MAX      255 /* bytes in one name */
#define SNAP_PATH_MAX      4096

/*
 * The order of names in a directory, part of the format (a reader's binary search
 * relies on it): bytewise (memcmp) order, a prefix before its extensions ("Up" <
 * "Up.mkv").  <0, 0, >0.  Every place that sorts or searches names uses this one.
 */
static inline int snap_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c;

	if (a == b && alen == blen)
		return 0; /* one string (the members of a run of same names share theirs) */
	c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

enum snap_node_type {
	SNAP_NODE_DIR = 1,
	SNAP_NODE_FILE = 2,
	SNAP_NODE_TYPE_MAX,
};

/* kv_flags */
#define SNAP_KV_HELD (1u << 0) /* a large removal is being held back, see kv_held_removals */
/* a saved tree served at start while the first load runs (kvwatch's warm start) */
#define SNAP_KV_RESYNCING (1u << 1)

/*
 * A string: off and len index the strings section; strings[off + len] is the NUL
 * that ends it (so a validated string can be used as a C string), and no NUL
 * occurs before it.
 */
struct snap_str {
	uint32_t off;
	uint32_t len;
};

struct snap_header {
	char magic[SNAP_MAGIC_LEN];
	uint32_t version;
	uint32_t header_size;     /* sizeof(struct snap_header) of the writer */
	uint64_t total_size;      /* the file's size */
	uint64_t generation;      /* increases by one with each published snapshot */
	int64_t build_time_ns;    /* CLOCK_REALTIME when written */
	uint64_t body_checksum;   /* checksum64(file[header_size .. total_size)), checksum.h */
	uint64_t header_checksum; /* hash64(header with this field zero, seed 0) */

	/* State of the key-value store when this snapshot was written. */
	uint32_t kv_connected;     /* 1 connected, 0 not */
	uint32_t kv_flags;         /* SNAP_KV_* */
	int64_t kv_last_sync_ns;   /* last successful full sync, 0 = never */
	int64_t kv_error_since_ns; /* when the current error began, 0 = no error */
	struct snap_str kv_error;  /* last error text, "" when none */
	struct snap_str kv_leader; /* the Redis URL in use, without credentials */
	uint64_t kv_held_removals; /* files a held-back change would remove */

	/* Statistics. */
	uint64_t files;
	uint64_t directories; /* including the root */
	uint64_t total_bytes; /* sum of file sizes */
	uint64_t skipped;     /* records no rule could place (reasons in skips) */
	uint64_t hidden;      /* records a rule hid on purpose (per rule in rules) */

	/* Sections: byte offsets from the start of the file, and counts. */
	uint64_t nodes_off;
	uint32_t node_count;
	uint32_t node_size; /* sizeof(struct snap_node) of the writer */
	uint64_t index_off;
	uint32_t index_buckets; /* a power of two, > node_count */
	uint32_t prop_count;
	uint64_t props_off;
	uint64_t rules_off;
	uint32_t rule_count;
	uint32_t category_count;
	uint64_t categories_off;
	uint64_t skips_off;
	uint32_t skip_count;
	uint32_t reserved0;
	uint64_t strings_off;
	uint64_t strings_size;

	uint64_t reserved[8]; /* zero; room for fields of later minor additions */
};

struct snap_node {
	uint64_t id;      /* stable: hash of the virtual path; root = SNAP_ROOT_ID */
	uint64_t size;    /* files: bytes; directories: 0 */
	int64_t mtime_ns; /* files: source mtime; directories: newest descendant */
	int64_t ctime_ns;
	uint32_t parent;      /* node index of the parent directory; the root's is 0 */
	uint16_t type;        /* enum snap_node_type */
	uint16_t flags;       /* SNAP_NODE_F_* (readers ignore bits they do not know) */
	struct snap_str name; /* one path component; "" for the root */

	/* Directories: children are nodes[first_child .. first_child + child_count),
	 * sorted by name (bytewise, memcmp order), all with parent == this index. */
	uint32_t first_child;
	uint32_t child_count;

	/* Files. */
	struct snap_str source;  /* path of the source, relative to files_volume */
	struct snap_str hash_id; /* the record's id in the KV store */
	uint32_t rule;           /* index into the rules section */
	uint32_t prop_first;     /* props[prop_first .. prop_first + prop_count) */
	uint32_t prop_count;

	/* Directories: how many of the children are directories (st_nlink - 2),
	 * counted by the writer, checked by readers; files: 0. */
	uint32_t subdirs;
};

struct snap_prop {
	struct snap_str key; /* property name, e.g. "title", "video/codec" */
	struct snap_str value;
};

struct snap_rule {
	struct snap_str name;
	uint64_t files;  /* files this rule placed */
	uint64_t hidden; /* records this rule hid */
};

struct snap_category {
	struct snap_str name; /* a top-level directory, e.g. "Movies" */
	uint64_t files;
	uint64_t bytes;
};

struct snap_skip {
	struct snap_str reason;  /* e.g. "no filePath", "filePath leaves the volume" */
	struct snap_str example; /* hash id of one such record */
	uint64_t count;
};

/* snap_node.flags */
#define SNAP_NODE_F_SUFFIXED     0x0001 /* the build added " (n)" to the rendered name */
#define SNAP_NODE_F_SIZE_UNKNOWN 0x0002 /* the KV store gave no usable size: size is 0 */
/* size is the source's, measured by the writer: the KV store's differed or was unusable */
#define SNAP_NODE_F_SIZE_MEASURED 0x0004

_Static_assert(sizeof(struct snap_node) == 88, "snap_node layout");
_Static_assert(sizeof(struct snap_header) % 8 == 0, "snap_header alignment");

#endif
