/*
 * fuzz_snapshot: libFuzzer target for the snapshot reader.
 *
 * Each input is validated twice: as it is, then with total_size set to the input's
 * length and both checksums recomputed, so that mutations get past the checksums
 * and reach the structural checks.  Each time it is validated in a row and on two
 * threads, which must agree on the verdict and the reason.  Whatever validates is
 * then walked through every accessor, and the answers are checked against each
 * other (a node's path leads back to it, its id finds it, its parent lists it): a
 * crash, a sanitizer report or an abort() here is a bug in the reader.
 *
 * Seeds: tests/fuzz/corpus/snapshot/ (small valid snapshots from the unit test).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "hash.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void exercise(const struct snapshot *s)
{
	static char buf[SNAP_PATH_MAX + 1];
	const struct snap_header *h = snapshot_header(s);
	uint32_t n = snapshot_node_count(s), count;
	const struct snap_rule *rules = snapshot_rules(s, &count);

	for (uint32_t i = 0; i < count; i++)
		check(strlen(snapshot_str(s, rules[i].name)) == rules[i].name.len);
	snapshot_categories(s, &count);
	snapshot_skips(s, &count);
	check(strlen(snapshot_str(s, h->kv_error)) == h->kv_error.len);
	check(snapshot_generation(s) == h->generation);
	check(snapshot_root(s) == snapshot_node(s, 0));
	check(snapshot_node(s, n) == NULL);

	for (uint32_t i = 0; i < n; i++) {
		const struct snap_node *node = snapshot_node(s, i), *found = NULL, *c;
		const struct snap_prop *props;
		int len;

		check(snapshot_node_index(s, node) == i);
		check(snapshot_lookup_id(s, node->id) == node);
		len = snapshot_node_path(s, node, buf, sizeof(buf));
		if (len >= 0) {
			/* It fitted SNAP_PATH_MAX, and names are <= 255 bytes: found. */
			check((size_t)len == strlen(buf));
			check(snapshot_lookup_path(s, buf, &found) == 0 && found == node);
		}
		if (i > 0) {
			const struct snap_node *p = snapshot_parent(s, node);

			check(p && snapshot_node_is_dir(p));
			check(snapshot_lookup_child(s, p, snapshot_str(s, node->name),
			                            node->name.len) == node);
		} else {
			check(snapshot_parent(s, node) == NULL);
		}
		c = snapshot_children(s, node, &count);
		{
			uint32_t dirs = 0;

			for (uint32_t k = 0; k < count; k++) {
				check(snapshot_parent(s, &c[k]) == node);
				dirs += snapshot_node_is_dir(&c[k]);
			}
			check(node->subdirs == dirs);
		}
		props = snapshot_props(s, node, &count);
		for (uint32_t k = 0; k < count; k++)
			check(snapshot_prop(s, node, snapshot_str(s, props[k].key)) != NULL);
	}
	/* Paths that are not there, or are odd. */
	{
		static const char *const odd[] = {"/", "", "//", "/a", "a/b/", "/./..", "/\xff/x"};
		const struct snap_node *found = NULL;

		for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
			snapshot_lookup_path(s, odd[i], &found);
		check(snapshot_lookup_path(s, "/", &found) == 0 && found == snapshot_root(s));
		check(snapshot_lookup_id(s, SNAP_ROOT_ID) == snapshot_root(s));
	}
}

/*
 * Validated in a row and on two threads (forced: the inputs are small): the same
 * verdict with the same reason.
 */
static void try_open(const void *buf, size_t size)
{
	struct snapshot *s = NULL, *s2 = NULL;
	char err[256], err2[256];
	int r, r2;

	snapshot_set_parallel_min(SIZE_MAX);
	r = snapshot_open_buffer(buf, size, &s, err, sizeof(err));
	snapshot_set_parallel_min(0);
	r2 = snapshot_open_buffer(buf, size, &s2, err2, sizeof(err2));
	check(r == r2);
	snapshot_free(s2);
	if (r == 0) {
		exercise(s);
		snapshot_free(s);
	} else {
		check(err[0] != '\0');
		check(strcmp(err, err2) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The reader wants 8-byte alignment, as mmap() gives it. */
	uint64_t *buf = malloc(size ? size : 1);
	struct snap_header *h = (struct snap_header *)buf;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	try_open(buf, size);

	if (size >= sizeof(*h)) {
		uint64_t hs = h->header_size;

		h->total_size = size;
		if (hs >= sizeof(*h) && hs <= size)
			h->body_checksum = checksum64((const uint8_t *)buf + hs, size - hs);
		else
			hs = sizeof(*h);
		h->header_checksum = 0;
		h->header_checksum = hash64(buf, hs, 0);
		try_open(buf, size);
	}
	free(buf);
	return 0;
}
