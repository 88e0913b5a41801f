/*
 * fused_testsnap: writes small snapshots for the fused unit tests from a table of
 * files ("/Movies/A/a.mkv", size, mtime, source, "title=A;year=2010"), laying
 * them out as the format requires (breadth-first, children sorted, ids = hash of
 * the virtual path) and writing them with the real snapshot writer, so that the
 * tests read them back through the real, validating reader.
 */
#ifndef MF_TEST_FUSED_TESTSNAP_H
#define MF_TEST_FUSED_TESTSNAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "snapshot_writer.h"

struct tspec {
	const char *path; /* absolute virtual path of a file */
	uint64_t size;
	int64_t mtime_ns;
	const char *source; /* NULL: the path without its leading '/' */
	const char *props;  /* "key=value;key=value", NULL for none */
};

/* The build time tsnap_write() gives its snapshots. */
static int64_t tsnap_build_ns = 2000000000;

struct tnode {
	char *path;
	const char *name; /* into path */
	size_t parent;    /* index into the tnode array */
	bool dir;
	const struct tspec *spec;
	uint32_t out; /* index in breadth-first order */
};

struct tbuild {
	struct tnode *n;
	size_t count, cap;
	char *strings;
	size_t slen, scap;
};

static size_t tb_add(struct tbuild *tb, const char *path, size_t len, bool dir,
                     const struct tspec *spec)
{
	size_t parent = 0;
	struct tnode *t;

	for (size_t i = 0; i < tb->count; i++)
		if (strlen(tb->n[i].path) == len && memcmp(tb->n[i].path, path, len) == 0)
			return i;
	if (len > 1) {
		const char *slash = memrchr(path, '/', len);
		size_t plen = (size_t)(slash - path);

		parent = tb_add(tb, path, plen ? plen : 1, true, NULL);
	}
	if (tb->count == tb->cap) {
		tb->cap = tb->cap ? tb->cap * 2 : 16;
		tb->n = realloc(tb->n, tb->cap * sizeof(*tb->n));
	}
	t = &tb->n[tb->count];
	memset(t, 0, sizeof(*t));
	t->path = strndup(path, len);
	t->name = len <= 1 ? t->path + len : strrchr(t->path, '/') + 1;
	t->parent = parent;
	t->dir = dir;
	t->spec = spec;
	return tb->count++;
}

static struct snap_str tb_str(struct tbuild *tb, const char *s, size_t len)
{
	struct snap_str r = {(uint32_t)tb->slen, (uint32_t)len};

	if (tb->slen + len + 1 > tb->scap) {
		tb->scap = (tb->slen + len + 1) * 2;
		tb->strings = realloc(tb->strings, tb->scap);
	}
	memcpy(tb->strings + tb->slen, s, len);
	tb->strings[tb->slen + len] = '\0';
	tb->slen += len + 1;
	return r;
}

static int tb_name_cmp(const void *a, const void *b, void *ctx)
{
	const struct tbuild *tb = ctx;
	const char *x = tb->n[*(const size_t *)a].name, *y = tb->n[*(const size_t *)b].name;

	return strcmp(x, y);
}

/* Sort idx[0..n) by name (insertion sort: the tables are small). */
static void tb_sort(struct tbuild *tb, size_t *idx, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && tb_name_cmp(&idx[j - 1], &idx[j], tb) > 0; j--) {
			size_t t = idx[j];

			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
}

/*
 * Write files[0..nfiles) as generation gen to dir/vfs.snapshot with the KV state
 * kv (NULL: connected).  Returns 0 or -errno.
 */
static int tsnap_write(const char *dir, uint64_t gen, const struct tspec *files, size_t nfiles,
                       const struct snapshot_kv_state *kv)
{
	struct snapshot_kv_state ok = {.connected = true, .last_sync_ns = 1};
	struct tbuild tb = {0};
	struct snapshot_build b = {0};
	struct snap_rule rule;
	size_t *order, *kids, head = 0, filled = 1;
	uint32_t nprops = 0;
	int r;

	tb_str(&tb, "", 0);
	tb_add(&tb, "/", 1, true, NULL);
	for (size_t i = 0; i < nfiles; i++)
		tb_add(&tb, files[i].path, strlen(files[i].path), false, &files[i]);

	order = calloc(tb.count, sizeof(*order));
	kids = calloc(tb.count, sizeof(*kids));
	b.nodes = calloc(tb.count, sizeof(*b.nodes));
	b.props = calloc(64 * (nfiles + 1), sizeof(*b.props));
	order[0] = 0;
	while (head < filled) {
		size_t d = order[head], nk = 0;
		struct snap_node *sn = &b.nodes[head];
		struct tnode *t = &tb.n[d];

		t->out = (uint32_t)head;
		sn->id = d == 0 ? 1 : hash64(t->path, strlen(t->path), 0) | 0x100;
		sn->type = t->dir ? SNAP_NODE_DIR : SNAP_NODE_FILE;
		sn->parent = d == 0 ? 0 : tb.n[t->parent].out;
		sn->name = tb_str(&tb, t->name, strlen(t->name));
		if (t->dir) {
			for (size_t i = 1; i < tb.count; i++)
				if (tb.n[i].parent == d && i != d)
					kids[nk++] = i;
			tb_sort(&tb, kids, nk);
			sn->first_child = (uint32_t)filled;
			sn->child_count = (uint32_t)nk;
			for (size_t i = 0; i < nk; i++)
				order[filled++] = kids[i];
			sn->mtime_ns = 1000000000;
		} else {
			const struct tspec *s = t->spec;
			const char *src = s->source ? s->source : s->path + 1;

			sn->size = s->size;
			sn->mtime_ns = s->mtime_ns;
			sn->ctime_ns = s->mtime_ns;
			sn->source = tb_str(&tb, src, strlen(src));
			sn->hash_id = tb_str(&tb, "h", 1);
			sn->prop_first = nprops;
			for (const char *p = s->props; p && *p;) {
				const char *semi = strchr(p, ';'), *eq = strchr(p, '=');
				size_t len = semi ? (size_t)(semi - p) : strlen(p);

				b.props[nprops].key = tb_str(&tb, p, (size_t)(eq - p));
				b.props[nprops].value =
				    tb_str(&tb, eq + 1, len - (size_t)(eq - p) - 1);
				nprops++;
				p += len + (semi ? 1 : 0);
			}
			sn->prop_count = nprops - sn->prop_first;
			b.files++;
			b.total_bytes += s->size;
		}
		if (t->dir)
			b.directories++;
		head++;
	}
	rule.name = tb_str(&tb, "test", 4);
	rule.files = b.files;
	rule.hidden = 0;
	b.node_count = (uint32_t)tb.count;
	b.prop_count = nprops;
	b.rules = &rule;
	b.rule_count = 1;
	b.strings = tb.strings;
	b.strings_size = tb.slen;
	r = snapshot_write(&b, kv ? kv : &ok, gen, tsnap_build_ns, dir, "vfs.snapshot");

	for (size_t i = 0; i < tb.count; i++)
		free(tb.n[i].path);
	free(tb.n);
	free(tb.strings);
	free(b.nodes);
	free(b.props);
	free(order);
	free(kids);
	return r;
}

#endif
