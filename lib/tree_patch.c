/*
 * tree_patch: the next tree from the previous snapshot and a small delta (see
 * tree.h), so that a live update of one file does not place every record again.
 *
 * The previous snapshot already holds the sorted, breadth-first tree.  The patch
 * marks the directories a change touches ("pdirs": an old directory whose child
 * list is taken apart, or a new directory), takes the old files of the changed
 * records out of them, puts the new versions in, drops directories left empty and
 * settles the names of each touched directory from the files' unrenamed names,
 * exactly as tree_build() does: in an old directory only the name groups the
 * changes touch (settle_groups(), so that one file among 100,000 of one name
 * does not settle them all), else every entry (settle_names()).  A breadth-first
 * walk then emits the new node array: untouched directories copy their old
 * children slice, touched ones their new sorted list.  Unchanged paths keep
 * their ids (the hash of the path); new and renamed nodes hash theirs, or take
 * the id of the old node whose path they take.  Directory times and the statistics are
 * computed over the whole new tree, which is cheap next to placing records.
 * The old strings and properties are not copied: the new build continues them
 * (snapshot_build's borrowed base, written out by the writer) with the new ones
 * appended; the strings of removed files become garbage, and when it grows past
 * half the strings the patch declines so that a full build compacts them.
 * It does not log and does not read the file system.
 */
#include "tree.h"
#include "tree_place.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "names.h"
#include "snapshot.h"

#define NO_INDEX UINT32_MAX
/* A name no " (n)" makes too long to keep whole: its variants are exact. */
#define GROUP_NAME_MAX (NAMES_SUFFIX_SURE - 16)
/* Values of n in a row taken by other names before a search by rank gives up. */
#define RANK_GAP_MAX 8
#define NSKIPS       TREE_SKIP_MAX

enum pentry_kind { PE_OLD, PE_FILE, PE_DIR };

/* A child of a touched directory. */
struct pentry {
	uint32_t kind;
	uint32_t ref;     /* old node index, pfile index or pdir index */
	const char *name; /* unrenamed name */
	uint32_t name_len;
	bool is_dir;
	bool dead;
	bool moved;             /* maybe out of order: see sort_merged() */
	bool suffixed;          /* final carries a " (n)" given here or in old */
	unsigned old_n;         /* the n of an old suffixed file, which ranks it in its run */
	unsigned n;             /* the n of final, 0 when unsuffixed */
	struct strview hash_id; /* files */
	const char *final;      /* the name in the new tree */
	uint32_t final_len;
	uint32_t reuse; /* old node index + 1 whose name (and so path and id) final is */
	bool grouped;   /* in a name group settle_groups() redoes */
};

/* A touched old directory (old != NO_INDEX) or a new one. */
struct pdir {
	uint32_t old;
	uint32_t parent; /* new directories: the pdir of the parent */
	const char *name;
	uint32_t name_len;
	struct pentry *e;
	size_t n, cap;
	size_t nold;     /* e[0 .. nold) are old's children in order, until settled */
	uint32_t *order; /* settled by groups: the live entries in order (else e[0 .. n)) */
	size_t norder;
	uint32_t *killed; /* the old entries taken out */
	size_t nkilled, killed_cap;
	size_t live;
	uint32_t *byhash; /* old file entries by hash id (index + 1), built on demand */
	size_t byhash_size;
	bool dropped;
	bool has_st;
	struct hash_state st; /* of its new path, when has_st (set while emitting) */
};

/* A placed new version of a changed record. */
struct pfile {
	const struct record *rec;
	uint32_t rule;
	struct tree_file file;
};

/* Strings the patch makes, in blocks that never move. */
struct arena {
	char **blocks;
	size_t nblocks, cap;
	size_t used, size; /* in the last block */
};

struct patch {
	const struct snapshot *old;
	const struct snap_header *h;
	const struct snap_node *onodes;
	uint32_t onode_count;
	const struct rules *rules;
	const struct schema *schema;
	tree_lookup_fn lookup;
	void *lookup_ctx;
	tree_nodes_fn nodes_fn; /* NULL: malloc */
	void *nodes_ctx;
	struct tree_sizes *sizes; /* NULL: sizes are the KV store's */

	uint32_t *pdir_of; /* old node index -> pdir index + 1 */
	struct pdir *pdirs;
	size_t npdirs, pdir_cap;
	struct pfile *pfiles;
	size_t npfiles, pfile_cap;
	uint8_t *dead; /* per old node: taken out or renamed, its id is free */
	struct arena arena;
	struct tree_uniq uniq;
	const char *last_orig; /* the last stripped name: a run's members share one copy */
	uint32_t last_orig_len;
	uint32_t *names; /* a touched directory's unsuffixed names: entry index + 1 */
	size_t names_size;

	int64_t hidden_delta;
	int64_t *rule_hidden_delta;
	int64_t skip_delta[NSKIPS];
	struct strview skip_new_example[NSKIPS];

	/* Counted while emitting, so the node array is walked once. */
	uint64_t *top_files; /* per node index of a child of the root */
	uint64_t *top_bytes;
	uint64_t *rule_files;
	uint64_t live_bytes; /* strings of the nodes */
	uint64_t live_props;

	struct snapshot_build *out;
	size_t strings_cap;
	size_t prop_cap;
	struct snap_str *keys; /* schema index -> key string in out, len 0 = not yet */
	bool *key_done;
};

#define ARENA_BLOCK ((size_t)1 << 16)

/* A copy of s[0..len) and a NUL that lives as long as the patch, or NULL. */
static char *own(struct patch *p, const char *s, size_t len)
{
	struct arena *a = &p->arena;
	char *c;

	if (a->nblocks == 0 || a->size - a->used < len + 1) {
		size_t size = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;

		if (tree_grow(&a->blocks, &a->cap, a->nblocks + 1, sizeof(*a->blocks)) < 0)
			return NULL;
		a->blocks[a->nblocks] = malloc(size);
		if (a->blocks[a->nblocks] == NULL)
			return NULL;
		a->nblocks++;
		a->used = 0;
		a->size = size;
	}
	c = a->blocks[a->nblocks - 1] + a->used;
	a->used += len + 1;
	memcpy(c, s, len);
	c[len] = '\0';
	return c;
}

static int add_string(struct patch *p, const char *s, size_t len, struct snap_str *ret)
{
	struct snapshot_build *out = p->out;
	uint64_t off = out->strings_base_size + out->strings_size;
	int r;

	if (off + len + 1 > UINT32_MAX)
		return -EOVERFLOW;
	r = tree_grow(&out->strings, &p->strings_cap, out->strings_size + len + 1, 1);
	if (r < 0)
		return r;
	memcpy(out->strings + out->strings_size, s, len);
	out->strings[out->strings_size + len] = '\0';
	ret->off = (uint32_t)off;
	ret->len = (uint32_t)len;
	out->strings_size += len + 1;
	return 0;
}

static const char *ostr(const struct patch *p, struct snap_str s)
{
	return snapshot_str(p->old, s);
}

static bool sv_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* ---- placing, as tree_build() does ---- */

/* ---- touched directories ---- */

static int64_t new_pdir(struct patch *p, uint32_t old, uint32_t parent, const char *name,
                        uint32_t name_len)
{
	struct pdir *d;
	int r = tree_grow(&p->pdirs, &p->pdir_cap, p->npdirs + 1, sizeof(*p->pdirs));

	if (r < 0)
		return r;
	d = &p->pdirs[p->npdirs];
	memset(d, 0, sizeof(*d));
	d->old = old;
	d->parent = parent;
	d->name = name;
	d->name_len = name_len;
	return (int64_t)p->npdirs++;
}

static int add_entry(struct patch *p, size_t pd, const struct pentry *e)
{
	struct pdir *d = &p->pdirs[pd];
	int r = tree_grow(&d->e, &d->cap, d->n + 1, sizeof(*d->e));

	if (r < 0)
		return r;
	d->e[d->n++] = *e;
	if (!e->dead)
		d->live++;
	return 0;
}

/* The pdir of old directory node idx, made from its children on first use. */
static int64_t touch(struct patch *p, uint32_t idx)
{
	const struct snap_node *dn = &p->onodes[idx];
	int64_t pd;
	int r;

	if (p->pdir_of[idx] != 0)
		return p->pdir_of[idx] - 1;
	pd = new_pdir(p, idx, NO_INDEX, ostr(p, dn->name), dn->name.len);
	if (pd < 0)
		return pd;
	r = tree_grow(&p->pdirs[pd].e, &p->pdirs[pd].cap, dn->child_count, sizeof(struct pentry));
	if (r < 0)
		return r;
	p->pdirs[pd].nold = dn->child_count;
	for (uint32_t k = 0; k < dn->child_count; k++) {
		uint32_t c = dn->first_child + k;
		const struct snap_node *cn = &p->onodes[c];
		struct pentry e = {
		    .kind = PE_OLD,
		    .ref = c,
		    .name = ostr(p, cn->name),
		    .name_len = cn->name.len,
		    .is_dir = cn->type == SNAP_NODE_DIR,
		    .suffixed = (cn->flags & SNAP_NODE_F_SUFFIXED) != 0,
		};

		if (!e.is_dir) {
			e.hash_id.ptr = ostr(p, cn->hash_id);
			e.hash_id.len = cn->hash_id.len;
		}
		r = add_entry(p, (size_t)pd, &e);
		if (r < 0)
			return r;
	}
	p->pdir_of[idx] = (uint32_t)pd + 1;
	return pd;
}

/* Take old node idx (a child of old directory parent) out of the tree. */
static int kill_old(struct patch *p, uint32_t parent, uint32_t idx)
{
	int64_t pd = touch(p, parent);
	struct pentry *e;
	struct pdir *d;
	int r;

	if (pd < 0)
		return (int)pd;
	/* Until settled, a touched directory's entries start with its old children. */
	d = &p->pdirs[pd];
	e = &d->e[idx - p->onodes[parent].first_child];
	if (e->kind != PE_OLD || e->ref != idx || e->dead)
		return -EAGAIN;
	r = tree_grow(&d->killed, &d->killed_cap, d->nkilled + 1, sizeof(*d->killed));
	if (r < 0)
		return r;
	d->killed[d->nkilled++] = idx - p->onodes[parent].first_child;
	e->dead = true;
	p->pdirs[pd].live--;
	p->dead[idx] = 1;
	return 0;
}

static uint64_t hash_id_hash(const char *s, size_t len)
{
	return hash64(s, len, 0);
}

/* The old file entries of pdir d by hash id, for removals from large directories. */
static int index_by_hash(struct patch *p, struct pdir *d)
{
	size_t size = 64;

	while (size < d->nold * 2)
		size *= 2;
	d->byhash = calloc(size, sizeof(*d->byhash));
	if (d->byhash == NULL)
		return -ENOMEM;
	d->byhash_size = size;
	for (size_t k = 0; k < d->nold; k++) {
		const struct pentry *e = &d->e[k];
		size_t slot;

		if (e->is_dir)
			continue;
		slot = hash_id_hash(e->hash_id.ptr, e->hash_id.len) & (size - 1);
		while (d->byhash[slot] != 0)
			slot = (slot + 1) & (size - 1);
		d->byhash[slot] = (uint32_t)k + 1;
	}
	(void)p;
	return 0;
}

/*
 * The file of hash_id among the " (n)" variants of name in old directory dn.
 * tree_build() numbered them in hash-id order, so a binary search over n finds
 * it with a few lookups, without indexing a folder of 100,000 same-name files.
 * A value taken by another name is a gap; RANK_GAP_MAX of them in a row read as
 * the end.  NO_INDEX when not found this way (the caller indexes the folder).
 */
static uint32_t find_by_rank(struct patch *p, const struct snap_node *dn, const char *name,
                             size_t len, struct strview hash_id)
{
	char cand[SNAP_NAME_MAX + 1];
	uint64_t lo = 2, hi = (uint64_t)dn->child_count + 2; /* every n is below hi */

	if (len >= GROUP_NAME_MAX)
		return NO_INDEX;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2, n;
		const struct snap_node *c = NULL;
		int cmp;

		for (n = mid; n < hi && n < mid + RANK_GAP_MAX && c == NULL; n++) {
			int l = names_add_suffix(name, len, (unsigned)n, cand, sizeof(cand));

			if (l < 0)
				return NO_INDEX;
			c = snapshot_lookup_child(p->old, dn, cand, (size_t)l);
			if (c != NULL &&
			    (c->type != SNAP_NODE_FILE || !(c->flags & SNAP_NODE_F_SUFFIXED)))
				c = NULL;
		}
		if (c == NULL) {
			hi = mid;
			continue;
		}
		cmp = snap_name_cmp(ostr(p, c->hash_id), c->hash_id.len, hash_id.ptr, hash_id.len);
		if (cmp == 0)
			return snapshot_node_index(p->old, c);
		if (cmp < 0)
			lo = n;
		else
			hi = mid;
	}
	return NO_INDEX;
}

/* The old child of directory cur that is the file of hash_id, or NO_INDEX. */
static uint32_t find_old_file(struct patch *p, uint32_t cur, const char *name,
                              struct strview hash_id)
{
	const struct snap_node *dn = &p->onodes[cur];
	const struct snap_node *c = snapshot_lookup_child(p->old, dn, name, strlen(name));
	struct pdir *d;
	uint32_t idx;
	size_t slot;
	int64_t pd;

	/* Most files have the name they were placed at. */
	if (c != NULL && c->type == SNAP_NODE_FILE &&
	    sv_eq(ostr(p, c->hash_id), c->hash_id.len, hash_id.ptr, hash_id.len))
		return snapshot_node_index(p->old, c);
	if (dn->child_count < 64) {
		for (uint32_t k = 0; k < dn->child_count; k++) {
			c = &p->onodes[dn->first_child + k];
			if (c->type == SNAP_NODE_FILE &&
			    sv_eq(ostr(p, c->hash_id), c->hash_id.len, hash_id.ptr, hash_id.len))
				return dn->first_child + k;
		}
		return NO_INDEX;
	}
	idx = find_by_rank(p, dn, name, strlen(name), hash_id);
	if (idx != NO_INDEX)
		return idx;
	pd = touch(p, cur);
	if (pd < 0)
		return NO_INDEX;
	d = &p->pdirs[pd];
	if (d->byhash == NULL && index_by_hash(p, d) < 0)
		return NO_INDEX;
	for (slot = hash_id_hash(hash_id.ptr, hash_id.len) & (d->byhash_size - 1);
	     d->byhash[slot] != 0; slot = (slot + 1) & (d->byhash_size - 1)) {
		const struct pentry *e = &d->e[d->byhash[slot] - 1];

		if (sv_eq(e->hash_id.ptr, e->hash_id.len, hash_id.ptr, hash_id.len))
			return e->ref;
	}
	return NO_INDEX;
}

/* Remove the file of an old version placed at path. */
static int remove_placed(struct patch *p, const char *path, struct strview hash_id)
{
	uint32_t cur = 0, idx;
	const char *s = path + 1;

	for (;;) {
		const char *slash = strchr(s, '/');
		const struct snap_node *c;

		if (slash == NULL)
			break;
		c = snapshot_lookup_child(p->old, &p->onodes[cur], s, (size_t)(slash - s));
		if (c == NULL || c->type != SNAP_NODE_DIR)
			return -EAGAIN;
		cur = snapshot_node_index(p->old, c);
		s = slash + 1;
	}
	idx = find_old_file(p, cur, s, hash_id);
	return idx == NO_INDEX ? -EAGAIN : kill_old(p, cur, idx);
}

/* The pdir of the child directory name of pdir pd, created when new. */
static int64_t child_pdir(struct patch *p, size_t pd, const char *name, size_t len)
{
	const char *copy;
	struct pentry e = {.kind = PE_DIR, .is_dir = true};
	int64_t nd;
	int r;

	/* New directories come after the old children. */
	for (size_t k = p->pdirs[pd].nold; k < p->pdirs[pd].n; k++) {
		const struct pentry *x = &p->pdirs[pd].e[k];

		if (x->kind == PE_DIR && sv_eq(x->name, x->name_len, name, len))
			return x->ref;
	}
	copy = own(p, name, len);
	if (copy == NULL)
		return -ENOMEM;
	nd = new_pdir(p, NO_INDEX, (uint32_t)pd, copy, (uint32_t)len);
	if (nd < 0)
		return nd;
	e.ref = (uint32_t)nd;
	e.name = copy;
	e.name_len = (uint32_t)len;
	r = add_entry(p, pd, &e);
	return r < 0 ? r : nd;
}

static int insert_placed(struct patch *p, const char *path, const struct record *rec, uint32_t rule)
{
	uint32_t cur = 0; /* old directory, while the path runs through old ones */
	int64_t pd = -1;  /* else the pdir */
	const char *s = path + 1, *name;
	struct pentry e = {.kind = PE_FILE};
	struct pfile *f;
	int r;

	for (;;) {
		const char *slash = strchr(s, '/');
		size_t len;

		if (slash == NULL)
			break;
		len = (size_t)(slash - s);
		if (pd < 0) {
			const struct snap_node *c =
			    snapshot_lookup_child(p->old, &p->onodes[cur], s, len);

			if (c != NULL && c->type == SNAP_NODE_DIR) {
				cur = snapshot_node_index(p->old, c);
			} else {
				pd = touch(p, cur);
				if (pd >= 0)
					pd = child_pdir(p, (size_t)pd, s, len);
			}
		} else {
			pd = child_pdir(p, (size_t)pd, s, len);
		}
		if (pd < -1)
			return (int)pd;
		s = slash + 1;
	}
	if (pd < 0) {
		pd = touch(p, cur);
		if (pd < 0)
			return (int)pd;
	}
	name = own(p, s, strlen(s));
	r = tree_grow(&p->pfiles, &p->pfile_cap, p->npfiles + 1, sizeof(*p->pfiles));
	if (name == NULL || r < 0)
		return -ENOMEM;
	f = &p->pfiles[p->npfiles];
	f->rec = rec;
	f->rule = rule;
	tree_file_measure(rec, p->sizes, &f->file);
	e.ref = (uint32_t)p->npfiles++;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	e.hash_id = rec->hash_id;
	return add_entry(p, (size_t)pd, &e);
}

/* Count the values a placed file does without (delta +1 or -1). */
static void count_notes(struct patch *p, const struct record *rec, int delta)
{
	struct tree_file f;

	tree_file_of(rec, &f);
	for (unsigned i = TREE_SKIP_RECORDS; i < NSKIPS; i++) {
		if (!(f.notes & 1u << i))
			continue;
		p->skip_delta[i] += delta;
		if (delta > 0 && p->skip_new_example[i].ptr == NULL)
			p->skip_new_example[i] = rec->hash_id;
	}
}

static int apply_change(struct patch *p, const struct tree_change *ch)
{
	char path[SNAP_PATH_MAX];
	uint32_t rule;
	int r;

	if (ch->old != NULL) {
		switch (tree_place(p->rules, ch->old, path, &rule)) {
		case TREE_HIDDEN:
			p->hidden_delta--;
			p->rule_hidden_delta[rule]--;
			break;
		case TREE_SKIPPED:
			p->skip_delta[rule]--; /* a lost example: see example_gone() */
			break;
		case TREE_PLACED:
			count_notes(p, ch->old, -1);
			r = remove_placed(p, path, ch->old->hash_id);
			if (r < 0)
				return r;
			break;
		}
	}
	if (ch->new == NULL)
		return 0;
	switch (tree_place(p->rules, ch->new, path, &rule)) {
	case TREE_HIDDEN:
		p->hidden_delta++;
		p->rule_hidden_delta[rule]++;
		return 0;
	case TREE_SKIPPED:
		p->skip_delta[rule]++;
		if (p->skip_new_example[rule].ptr == NULL)
			p->skip_new_example[rule] = ch->new->hash_id;
		return 0;
	case TREE_PLACED:
		break;
	}
	count_notes(p, ch->new, 1);
	return insert_placed(p, path, ch->new, rule);
}

/* Old directories left without children leave their parents, up to the root. */
static int drop_empty(struct patch *p)
{
	bool again = true;

	while (again) {
		again = false;
		for (size_t i = 0; i < p->npdirs; i++) {
			uint32_t idx = p->pdirs[i].old;
			int r;

			if (p->pdirs[i].live > 0 || p->pdirs[i].dropped || idx == NO_INDEX ||
			    idx == 0)
				continue;
			p->pdirs[i].dropped = true;
			r = kill_old(p, p->onodes[idx].parent, idx);
			if (r < 0)
				return r;
			again = true;
		}
	}
	return 0;
}

/* ---- names ---- */

/* Does name[0..len) end with " (<digits>)"? */
static bool ends_with_suffix(const char *name, size_t len)
{
	size_t i = len;

	if (len < 4 || name[len - 1] != ')')
		return false;
	for (i = len - 1; i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9'; i--)
		;
	return i < len - 1 && i >= 2 && name[i - 1] == '(' && name[i - 2] == ' ';
}

/*
 * Could name be a " (n)" variant that a build without node flags gave a
 * contested name?  names_add_suffix() puts the suffix at the end or before the
 * extension, whose dot is the last one.
 */
static bool maybe_renamed(const char *name, size_t len)
{
	const char *dot = memrchr(name, '.', len);

	return ends_with_suffix(name, len) ||
	       (dot != NULL && ends_with_suffix(name, (size_t)(dot - name)));
}

/*
 * The unrenamed name of an unchanged old file.  A file flagged suffixed drops its
 * " (n)" (names_strip_suffix()); one whose stem may have been shortened, or an
 * unflagged one that looks suffixed (a snapshot of a build without the flag),
 * has its record placed again.
 */
static int original_name(struct patch *p, struct pentry *e)
{
	char path[SNAP_PATH_MAX];
	const struct record *rec;
	const char *slash;
	uint32_t rule;
	int len;

	if (e->kind != PE_OLD || e->is_dir || e->dead)
		return 0;
	if (e->suffixed && e->name_len < NAMES_SUFFIX_SURE) {
		len = names_strip_suffix(e->name, e->name_len, path, sizeof(path), &e->old_n);
		if (len < 0)
			return -EAGAIN; /* not a snapshot of ours */
		if (!sv_eq(p->last_orig, p->last_orig_len, path, (size_t)len)) {
			p->last_orig = own(p, path, (size_t)len);
			p->last_orig_len = (uint32_t)len;
		}
		e->name = p->last_orig;
		e->name_len = (uint32_t)len;
		return e->name != NULL ? 0 : -ENOMEM;
	}
	if (!e->suffixed && !maybe_renamed(e->name, e->name_len))
		return 0;
	rec = p->lookup(p->lookup_ctx, e->hash_id.ptr, e->hash_id.len);
	if (rec == NULL || tree_place(p->rules, rec, path, &rule) != TREE_PLACED)
		return -EAGAIN;
	slash = strrchr(path, '/');
	e->name = own(p, slash + 1, strlen(slash + 1));
	if (e->name == NULL)
		return -ENOMEM;
	e->name_len = (uint32_t)strlen(e->name);
	return 0;
}

/* tree_build()'s order: name, directories first, files by hash id. */
static int entry_cmp(const void *pa, const void *pb)
{
	const struct pentry *a = pa, *b = pb;
	int c = snap_name_cmp(a->name, a->name_len, b->name, b->name_len);

	if (c != 0)
		return c;
	if (a->is_dir != b->is_dir)
		return a->is_dir ? -1 : 1;
	/* Old files of one run: their n is their hash-id rank (tree_build() gave it). */
	if (a->old_n != 0 && b->old_n != 0)
		return a->old_n < b->old_n ? -1 : a->old_n > b->old_n;
	return snap_name_cmp(a->hash_id.ptr, a->hash_id.len, b->hash_id.ptr, b->hash_id.len);
}

/* Where " (n)" sorts among the suffixes of one name: as its digits compare as text. */
static uint64_t suffix_key(unsigned n)
{
	uint64_t k = n;
	unsigned digits = 1;

	for (unsigned m = n; m >= 10; m /= 10)
		digits++;
	for (unsigned d = digits; d < 10; d++)
		k *= 10;
	return k << 4 | digits; /* "1" before "10": the shorter first on a tie */
}

static int final_cmp(const void *pa, const void *pb)
{
	const struct pentry *a = pa, *b = pb;

	/* Unless a stem was shortened (then it may differ with the digits' count). */
	if (a->n != 0 && b->n != 0 && a->name == b->name && a->name_len == b->name_len &&
	    a->final_len < NAMES_SUFFIX_SURE && b->final_len < NAMES_SUFFIX_SURE) {
		uint64_t ka = suffix_key(a->n), kb = suffix_key(b->n);

		return ka < kb ? -1 : ka > kb;
	}
	return snap_name_cmp(a->final, a->final_len, b->final, b->final_len);
}

static uint64_t name_hash(const char *s, size_t len)
{
	return hash64(s, len, 0);
}

/* The unsuffixed names of d's entries e[0..n), for sorted_taken(). */
static int index_names(struct patch *p, const struct pentry *e, size_t n)
{
	size_t size = 64;

	while (size < n * 2)
		size *= 2;
	if (size > p->names_size) {
		free(p->names);
		p->names = malloc(size * sizeof(*p->names));
		if (p->names == NULL) {
			p->names_size = 0;
			return -ENOMEM;
		}
		p->names_size = size;
	}
	size = p->names_size; /* sorted_taken() probes the whole table */
	memset(p->names, 0, size * sizeof(*p->names));
	for (size_t k = 0; k < n; k++) {
		size_t slot;

		if (k > 0 && e[k].name == e[k - 1].name && e[k].name_len == e[k - 1].name_len)
			continue;
		for (slot = name_hash(e[k].name, e[k].name_len) & (size - 1); p->names[slot] != 0;
		     slot = (slot + 1) & (size - 1)) {
			const struct pentry *x = &e[p->names[slot] - 1];

			if (sv_eq(x->name, x->name_len, e[k].name, e[k].name_len))
				break;
		}
		p->names[slot] = (uint32_t)k + 1;
	}
	return 0;
}

struct sorted_ctx {
	const struct patch *p;
	const struct pentry *e;
	size_t size; /* of p->names, a power of two */
};

/* Is name the unsuffixed name of an entry (index_names())? */
static bool sorted_taken(void *ctx, const char *name, size_t len)
{
	const struct sorted_ctx *t = ctx;
	const uint32_t *names = t->p->names;

	for (size_t slot = name_hash(name, len) & (t->size - 1); names[slot] != 0;
	     slot = (slot + 1) & (t->size - 1)) {
		const struct pentry *x = &t->e[names[slot] - 1];

		if (sv_eq(x->name, x->name_len, name, len))
			return true;
	}
	return false;
}

/*
 * Sort e[0..n) by cmp, knowing that the entries not marked moved are in order
 * already: a touched directory is its old, sorted children with a few added or
 * renamed.  The moved ones are sorted alone and merged in, so a change in a
 * directory of 50,000 entries costs a pass over it, not a full sort.  When the
 * rest turns out not to be in order, or most entries moved, it is a plain qsort.
 */
static int sort_merged(struct pentry *e, size_t n, int (*cmp)(const void *, const void *))
{
	struct pentry *moved;
	size_t m = 0, k = 0, i, j, w;

	for (i = 0; i < n; i++)
		m += e[i].moved;
	if (m * 4 > n) {
		if (n > 1)
			qsort(e, n, sizeof(*e), cmp);
		return 0;
	}
	moved = malloc((m + 1) * sizeof(*moved));
	if (moved == NULL)
		return -ENOMEM;
	for (i = 0, j = 0; i < n; i++) {
		if (e[i].moved)
			moved[j++] = e[i];
		else
			e[k++] = e[i];
	}
	for (i = 1; i < k && cmp(&e[i - 1], &e[i]) < 0; i++)
		;
	memcpy(&e[k], moved, m * sizeof(*moved));
	if (i < k) {
		qsort(e, n, sizeof(*e), cmp);
		free(moved);
		return 0;
	}
	if (m > 1)
		qsort(moved, m, sizeof(*moved), cmp);
	/* Merge from the back: the kept entries only move right. */
	for (i = k, j = m, w = n; j > 0; w--) {
		if (i > 0 && cmp(&e[i - 1], &moved[j - 1]) > 0)
			e[w - 1] = e[--i];
		else
			e[w - 1] = moved[--j];
	}
	free(moved);
	return 0;
}

/* ---- name groups ---- */

/*
 * A patch of one file among 100,000 of one name in one folder must not settle
 * the whole folder again.  In an old directory, settle_groups() redoes only the
 * name groups that a change touches: the unsuffixed names of the entries put in
 * and taken out, and the names these are " (n)" variants of (whose free values
 * they take or give back).  Every other entry keeps its name and its place.
 * Within a group the ranks follow from the old " (n)" (tree_build() gave them in
 * hash-id order) and the hash ids of the new members; a value an old member held
 * is free without a lookup, and whoever takes it reuses that member's name and
 * id (the same path).  The new order is the old order with the group members
 * merged back in, their " (n)" enumerated in the order their digits sort.  It
 * declines (1: settle_names() does the whole directory) on what it cannot be
 * sure of: a long name (a stem may have been shortened), an unflagged name that
 * looks like a variant (a snapshot of a build without the flag, or a genuine
 * "Up (2).mkv"), two directories of one name.
 */

/* A name whose group changed, and the n it is a variant of its base with (0: none). */
struct gname {
	const char *name;
	uint32_t len;
	unsigned n;
	uint32_t entry; /* the new entry of that name + 1, 0 none */
};

#define GROUP_NEW   UINT32_MAX /* oldn[] of a new member */
#define GROUP_CHECK 1          /* flags[n]: its variant name changed hands, look it up */
#define GROUP_DEAD  2          /* flags[n]: the old member of that n was taken out */

struct group {
	const char *name;
	uint32_t len, stem; /* stem: where the extension starts */
	uint32_t exact;     /* the old entry of this name, unsuffixed, + 1 */
	uint32_t dir;       /* the directory of the group (entry + 1) */
	unsigned maxn;      /* the largest " (n)" of an old member */
	uint32_t *byn;      /* n <= maxn -> old entry + 1 */
	uint8_t *flags;     /* n <= maxn -> GROUP_* */
	uint32_t *files;    /* the live files in rank order (entries) ... */
	uint32_t *oldn;     /* ... the n each had (0 unsuffixed, GROUP_NEW) ... */
	uint32_t *newn;     /* ... and the n each takes */
	size_t nfiles, live;
	size_t first, count; /* its gnames */
};

struct groups {
	struct gname *names;
	size_t nnames, names_cap;
	struct group *g;
	size_t ng;
};

static void groups_free(struct groups *gs)
{
	for (size_t i = 0; i < gs->ng; i++) {
		free(gs->g[i].byn);
		free(gs->g[i].flags);
		free(gs->g[i].files);
		free(gs->g[i].oldn);
		free(gs->g[i].newn);
	}
	free(gs->g);
	free(gs->names);
}

static int gname_cmp(const void *pa, const void *pb)
{
	const struct gname *a = pa, *b = pb;

	return snap_name_cmp(a->name, a->len, b->name, b->len);
}

/* Name changed its group (entry: a new entry of it); so did its base's. 1: decline. */
static int push_name(struct patch *p, struct groups *gs, const char *name, size_t len,
                     uint32_t entry)
{
	char base[SNAP_NAME_MAX + 1];
	unsigned n;
	int blen, r;

	if (len >= GROUP_NAME_MAX)
		return 1;
	r = tree_grow(&gs->names, &gs->names_cap, gs->nnames + 2, sizeof(*gs->names));
	if (r < 0)
		return r;
	gs->names[gs->nnames++] = (struct gname){name, (uint32_t)len, 0, entry};
	blen = names_strip_suffix(name, len, base, sizeof(base), &n);
	if (blen < 0)
		return 0;
	gs->names[gs->nnames].name = own(p, base, (size_t)blen);
	if (gs->names[gs->nnames].name == NULL)
		return -ENOMEM;
	gs->names[gs->nnames].len = (uint32_t)blen;
	gs->names[gs->nnames].n = n;
	gs->names[gs->nnames].entry = 0;
	gs->nnames++;
	return 0;
}

/* The first old child of d whose name is not below key[0..len), as an entry index. */
static size_t lower_bound(const struct pdir *d, const char *key, size_t len)
{
	size_t lo = 0, hi = d->nold;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pentry *e = &d->e[mid];

		if (snap_name_cmp(e->name, e->name_len, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The old child of d named name[0..len) + 1, or 0. */
static uint32_t old_named(const struct pdir *d, const char *name, size_t len)
{
	size_t k = lower_bound(d, name, len);

	return k < d->nold && sv_eq(d->e[k].name, d->e[k].name_len, name, len) ? (uint32_t)k + 1
	                                                                       : 0;
}

static struct group *group_named(struct groups *gs, const char *name, size_t len)
{
	size_t lo = 0, hi = gs->ng;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = snap_name_cmp(gs->g[mid].name, gs->g[mid].len, name, len);

		if (c == 0)
			return &gs->g[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Is x[0..len) group g's name with " (n)", and which n? */
static bool is_variant(const struct group *g, const char *x, size_t len, unsigned *ret_n)
{
	size_t ext = g->len - g->stem, end;
	uint64_t n = 0;

	if (len < g->len + 4 || memcmp(x, g->name, g->stem) != 0 || x[g->stem] != ' ' ||
	    x[g->stem + 1] != '(' || x[len - ext - 1] != ')' ||
	    memcmp(x + len - ext, g->name + g->stem, ext) != 0)
		return false;
	end = len - ext - 1;
	if (end - (g->stem + 2) > 10 || x[g->stem + 2] == '0')
		return false;
	for (size_t i = g->stem + 2; i < end; i++) {
		if (x[i] < '0' || x[i] > '9')
			return false;
		n = n * 10 + (unsigned)(x[i] - '0');
	}
	if (n < 2 || n > UINT32_MAX)
		return false;
	*ret_n = (unsigned)n;
	return true;
}

/* Where names_add_suffix() puts the suffix of g's name. */
static void group_stem(struct group *g)
{
	char out[SNAP_NAME_MAX + 1];
	int n = names_add_suffix(g->name, g->len, 2, out, sizeof(out));

	g->stem = g->len;
	if (n != (int)g->len + 4)
		return;
	for (size_t s = g->len + 1; s-- > 0;) {
		if (memcmp(out + s, " (2)", 4) == 0 && memcmp(out, g->name, s) == 0 &&
		    memcmp(out + s + 4, g->name + s, g->len - s) == 0) {
			g->stem = (uint32_t)s;
			return;
		}
	}
}

static int hash_id_cmp(const struct pentry *a, const struct pentry *b)
{
	return snap_name_cmp(a->hash_id.ptr, a->hash_id.len, b->hash_id.ptr, b->hash_id.len);
}

typedef int (*entry_cmp_fn)(const struct pentry *a, const struct pentry *b);

/* The first of x[0..n) (entries sorted by cmp) above e. */
static size_t upper_bound(const struct pentry *ents, const uint32_t *x, size_t n,
                          const struct pentry *e, entry_cmp_fn cmp)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp(&ents[x[mid]], e) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The old and new members of group g in d, in rank order.  The old entries are
 * read in their order once; everything after works on arrays by n and by rank.
 * 1: decline.
 */
static int group_members(struct patch *p, struct groups *gs, struct pdir *d, struct group *g)
{
	char key[SNAP_NAME_MAX + 3];
	size_t lo, hi, nold = 0, nrange = 0, cap, i;
	uint32_t *range = NULL;
	int r = -ENOMEM;

	group_stem(g);
	g->exact = old_named(d, g->name, g->len);
	if (g->exact != 0) {
		const struct pentry *e = &d->e[g->exact - 1];

		if (e->suffixed)
			g->exact = 0; /* a member of the group it is a variant of */
		else if (!e->is_dir && maybe_renamed(g->name, g->len))
			return 1;
		else if (e->is_dir)
			g->dir = g->exact;
	}
	memcpy(key, g->name, g->stem);
	memcpy(key + g->stem, " (", 2);
	lo = lower_bound(d, key, g->stem + 2);
	key[g->stem + 1] = ')';
	hi = lower_bound(d, key, g->stem + 2);
	range = malloc((hi - lo + 1) * sizeof(*range));
	if (range == NULL)
		goto out;
	for (size_t k = lo; k < hi; k++) {
		struct pentry *e = &d->e[k];
		unsigned n;

		if (!is_variant(g, e->name, e->name_len, &n))
			continue;
		if (e->is_dir || !e->suffixed) {
			r = 1; /* a genuine "Up (2).mkv", or a build without flags */
			goto out;
		}
		e->old_n = n;
		e->grouped = true;
		if (n > g->maxn)
			g->maxn = n;
		range[nrange++] = (uint32_t)k;
	}
	cap = nrange + 1 + g->count;
	g->byn = calloc(g->maxn + 1, sizeof(*g->byn));
	g->flags = calloc(g->maxn + 1, sizeof(*g->flags));
	g->files = malloc(cap * sizeof(*g->files));
	g->oldn = malloc(cap * sizeof(*g->oldn));
	g->newn = malloc(cap * sizeof(*g->newn));
	if (g->byn == NULL || g->flags == NULL || g->files == NULL || g->oldn == NULL ||
	    g->newn == NULL)
		goto out;
	for (i = 0; i < nrange; i++) {
		const struct pentry *e = &d->e[range[i]];

		if (g->byn[e->old_n] != 0) {
			r = 1;
			goto out;
		}
		g->byn[e->old_n] = range[i] + 1;
		if (e->dead)
			g->flags[e->old_n] |= GROUP_DEAD;
	}
	if (g->exact != 0)
		d->e[g->exact - 1].grouped = true;
	/* Old files in rank order: the unsuffixed one first, then by n. */
	if (g->exact != 0 && !d->e[g->exact - 1].is_dir && !d->e[g->exact - 1].dead) {
		g->files[nold] = g->exact - 1;
		g->oldn[nold++] = 0;
	}
	for (unsigned n = 2; n <= g->maxn; n++) {
		if (g->byn[n] != 0 && !(g->flags[n] & GROUP_DEAD)) {
			g->files[nold] = g->byn[n] - 1;
			g->oldn[nold++] = n;
		}
	}
	g->nfiles = nold;
	/* The changes: new members by hash id, and n whose variant name changed hands. */
	for (i = g->first; i < g->first + g->count; i++) {
		const struct gname *gn = &gs->names[i];
		struct pentry *e;
		size_t at;

		if (gn->n != 0 && gn->n <= g->maxn)
			g->flags[gn->n] |= GROUP_CHECK;
		if (gn->entry == 0)
			continue;
		e = &d->e[gn->entry - 1];
		e->grouped = true;
		if (e->is_dir) {
			if (g->dir != 0) {
				r = 1;
				goto out;
			}
			g->dir = gn->entry;
			continue;
		}
		at = upper_bound(d->e, g->files, g->nfiles, e, hash_id_cmp);
		memmove(g->files + at + 1, g->files + at, (g->nfiles - at) * sizeof(*g->files));
		memmove(g->oldn + at + 1, g->oldn + at, (g->nfiles - at) * sizeof(*g->oldn));
		g->files[at] = gn->entry - 1;
		g->oldn[at] = GROUP_NEW;
		g->nfiles++;
	}
	g->live = g->nfiles + (g->dir != 0 && !d->e[g->dir - 1].dead);
	r = 0;
out:
	free(range);
	return r;
}

/* Is g's name with " (n)" the name of a group of the new tree?  2: decline. */
static int variant_taken(struct groups *gs, struct pdir *d, const struct group *g, unsigned n)
{
	char cand[SNAP_NAME_MAX + 1];
	int len = names_add_suffix(g->name, g->len, n, cand, sizeof(cand));
	const struct group *other;
	uint32_t k;

	if (len < 0 || len >= NAMES_SUFFIX_SURE)
		return 2;
	other = group_named(gs, cand, (size_t)len);
	if (other != NULL)
		return other->live > 0;
	k = old_named(d, cand, (size_t)len);
	if (k == 0 || (d->e[k - 1].suffixed && !d->e[k - 1].is_dir))
		return 0;
	return d->e[k - 1].is_dir ? 1 : 2; /* an unflagged file: which kind is unsure */
}

/* The " (n)" of g's files in newn[] (0 for the one keeping the name).  1: decline. */
static int group_assign(struct groups *gs, struct pdir *d, struct group *g)
{
	unsigned next = 2;
	size_t i = 0;

	if ((g->dir == 0 || d->e[g->dir - 1].dead) && g->nfiles > 0)
		g->newn[i++] = 0;
	for (; i < g->nfiles; i++) {
		for (;; next++) {
			int t;

			if (next == 0)
				return 1;
			if (next <= g->maxn && g->byn[next] != 0 && !(g->flags[next] & GROUP_CHECK))
				break;
			t = variant_taken(gs, d, g, next);
			if (t == 2)
				return 1;
			if (t == 0)
				break;
		}
		g->newn[i] = next++;
	}
	return 0;
}

/*
 * Entry e of g is renamed to its name with " (n)" (n 0: the name itself).  The
 * old node whose name it takes is its path, hence its id: marked dead[] bit 2.
 */
static int group_name(struct patch *p, struct pdir *d, const struct group *g, struct pentry *e,
                      unsigned n)
{
	char cand[SNAP_NAME_MAX + 1];
	uint32_t from = 0;
	int len;

	if (n == 0)
		from = g->exact;
	else if (n <= g->maxn)
		from = g->byn[n];
	if (from != 0) {
		uint32_t o = d->e[from - 1].ref;

		e->final = ostr(p, p->onodes[o].name);
		e->final_len = p->onodes[o].name.len;
		e->reuse = o + 1;
		p->dead[o] |= 2;
	} else if (n == 0) {
		e->final = g->name;
		e->final_len = g->len;
	} else {
		len = names_add_suffix(g->name, g->len, n, cand, sizeof(cand));
		if (len < 0)
			return len;
		e->final = own(p, cand, (size_t)len);
		if (e->final == NULL)
			return -ENOMEM;
		e->final_len = (uint32_t)len;
	}
	e->suffixed = n != 0;
	if (e->kind == PE_OLD)
		p->dead[e->ref] |= 1;
	return 0;
}

/* An entry's name in the new tree: unless renamed, the one it has. */
static const char *efinal(const struct pentry *e, uint32_t *ret_len)
{
	*ret_len = e->final != NULL ? e->final_len : e->name_len;
	return e->final != NULL ? e->final : e->name;
}

static int final_name_cmp(const struct pentry *a, const struct pentry *b)
{
	uint32_t alen, blen;
	const char *x = efinal(a, &alen), *y = efinal(b, &blen);

	return snap_name_cmp(x, alen, y, blen);
}

/*
 * Merge the sorted entries x[0..nx) and y[0..ny) into out.  A run much shorter
 * than the other goes in by binary search, so one file merged into a folder of
 * 50,000 costs a copy, not 50,000 comparisons.
 */
static void merge_two(const struct pentry *ents, const uint32_t *x, size_t nx, const uint32_t *y,
                      size_t ny, uint32_t *out)
{
	const uint32_t *l = nx >= ny ? x : y, *sh = nx >= ny ? y : x;
	size_t nl = nx >= ny ? nx : ny, ns = nx >= ny ? ny : nx, i = 0, j = 0, w = 0;

	if (ns * 16 < nl) {
		for (j = 0; j < ns; j++) {
			size_t pos =
			    i + upper_bound(ents, l + i, nl - i, &ents[sh[j]], final_name_cmp);

			memcpy(out + w, l + i, (pos - i) * sizeof(*out));
			w += pos - i;
			i = pos;
			out[w++] = sh[j];
		}
		memcpy(out + w, l + i, (nl - i) * sizeof(*out));
		return;
	}
	while (i < nx || j < ny) {
		if (j == ny || (i < nx && final_name_cmp(&ents[x[i]], &ents[y[j]]) < 0))
			out[w++] = x[i++];
		else
			out[w++] = y[j++];
	}
}

/* Merge the sorted runs of entries a (bounds[0..nruns], the last the end) into one. */
static int merge_runs(const struct pentry *e, uint32_t *a, size_t *bounds, size_t nruns)
{
	uint32_t *tmp = malloc((bounds[nruns] + 1) * sizeof(*tmp));

	if (tmp == NULL)
		return -ENOMEM;
	while (nruns > 1) {
		size_t out = 0;

		for (size_t r = 0; r < nruns; r += 2) {
			size_t i = bounds[r], ie = bounds[r + 1];
			size_t je = r + 1 < nruns ? bounds[r + 2] : ie;

			bounds[out++] = i;
			merge_two(e, a + i, ie - i, a + ie, je - ie, tmp + i);
		}
		bounds[out] = bounds[nruns];
		memcpy(a, tmp, bounds[nruns] * sizeof(*a));
		nruns = out;
	}
	free(tmp);
	return 0;
}

/* Group g's live members into a[*n...] (entries), as sorted runs noted in bounds. */
static int group_runs(struct patch *p, struct pdir *d, struct group *g, uint32_t *a, size_t *n,
                      size_t *bounds, size_t *nruns)
{
	unsigned maxn = 0;
	uint32_t *bynew;
	uint64_t cur = 1;
	int r;

	if (g->dir != 0 && !d->e[g->dir - 1].dead) {
		if (d->e[g->dir - 1].kind != PE_OLD) {
			r = group_name(p, d, g, &d->e[g->dir - 1], 0);
			if (r < 0)
				return r;
		}
		bounds[(*nruns)++] = *n;
		a[(*n)++] = g->dir - 1;
	}
	for (size_t i = 0; i < g->nfiles; i++) {
		if (g->newn[i] != g->oldn[i]) {
			r = group_name(p, d, g, &d->e[g->files[i]], g->newn[i]);
			if (r < 0)
				return r;
		}
		if (g->newn[i] > maxn)
			maxn = g->newn[i];
		if (g->newn[i] == 0) {
			bounds[(*nruns)++] = *n;
			a[(*n)++] = g->files[i];
		}
	}
	if (maxn == 0)
		return 0;
	bynew = calloc((size_t)maxn + 1, sizeof(*bynew));
	if (bynew == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < g->nfiles; i++)
		if (g->newn[i] != 0)
			bynew[g->newn[i]] = g->files[i] + 1;
	/* 1..maxn in the order of their digits as text: "10" after "1", before "2". */
	bounds[(*nruns)++] = *n;
	for (unsigned i = 0; i < maxn; i++) {
		if (bynew[cur] != 0)
			a[(*n)++] = bynew[cur] - 1;
		if (cur * 10 <= maxn) {
			cur *= 10;
		} else {
			if (cur >= maxn)
				cur /= 10;
			cur++;
			while (cur % 10 == 0)
				cur /= 10;
		}
	}
	free(bynew);
	return 0;
}

/* settle_names() for an old directory, group by group; 1 when it declines. */
static int settle_groups(struct patch *p, struct pdir *d)
{
	struct groups gs = {0};
	uint32_t *a = NULL, *order = NULL, *keep = NULL;
	size_t *bounds = NULL, na = 0, nruns = 0, total = 0, u, i, w;
	int r;

	if (d->old == NO_INDEX)
		return 1;
	for (i = 0; i < d->nkilled + (d->n - d->nold); i++) {
		size_t k = i < d->nkilled ? d->killed[i] : d->nold + (i - d->nkilled);
		struct pentry *e = &d->e[k];
		char base[SNAP_NAME_MAX + 1];
		unsigned n;
		int len;

		if (k >= d->nold) {
			r = push_name(p, &gs, e->name, e->name_len, (uint32_t)k + 1);
		} else if (!e->suffixed || e->is_dir) {
			r = !e->is_dir && maybe_renamed(e->name, e->name_len)
			        ? 1
			        : push_name(p, &gs, e->name, e->name_len, 0);
		} else if (e->name_len >= NAMES_SUFFIX_SURE) {
			r = 1;
		} else {
			len = names_strip_suffix(e->name, e->name_len, base, sizeof(base), &n);
			if (len < 0) {
				r = 1;
			} else {
				const char *str = own(p, base, (size_t)len);

				r = str == NULL ? -ENOMEM : push_name(p, &gs, str, (size_t)len, 0);
			}
		}
		if (r != 0)
			goto out;
	}
	/* One group per name, its gnames together. */
	if (gs.nnames > 1)
		qsort(gs.names, gs.nnames, sizeof(*gs.names), gname_cmp);
	r = -ENOMEM;
	gs.g = calloc(gs.nnames + 1, sizeof(*gs.g));
	if (gs.g == NULL)
		goto out;
	for (i = 0; i < gs.nnames; i++) {
		struct gname *gn = &gs.names[i];

		if (gs.ng == 0 ||
		    !sv_eq(gs.g[gs.ng - 1].name, gs.g[gs.ng - 1].len, gn->name, gn->len))
			gs.g[gs.ng++] =
			    (struct group){.name = gn->name, .len = gn->len, .first = i};
		gs.g[gs.ng - 1].count++;
	}
	for (i = 0; i < gs.ng; i++) {
		r = group_members(p, &gs, d, &gs.g[i]);
		if (r != 0)
			goto out;
	}
	for (i = 0; i < gs.ng; i++) {
		r = group_assign(&gs, d, &gs.g[i]);
		if (r != 0)
			goto out;
		total += gs.g[i].live;
	}

	/* From here on it does not decline. */
	r = -ENOMEM;
	a = malloc((total + 1) * sizeof(*a));
	bounds = malloc((total + gs.ng + 2) * sizeof(*bounds));
	if (a == NULL || bounds == NULL)
		goto out;
	for (i = 0; i < gs.ng; i++) {
		r = group_runs(p, d, &gs.g[i], a, &na, bounds, &nruns);
		if (r < 0)
			goto out;
	}
	bounds[nruns] = na;
	r = merge_runs(d->e, a, bounds, nruns);
	if (r < 0)
		goto out;
	/* The others keep their names and order: merge the groups back in. */
	r = -ENOMEM;
	order = malloc((d->n + 1) * sizeof(*order));
	keep = malloc((d->nold + 1) * sizeof(*keep));
	if (order == NULL || keep == NULL)
		goto out;
	for (i = 0, u = 0; i < d->nold && u + na < d->live; i++)
		if (!d->e[i].dead && !d->e[i].grouped)
			keep[u++] = (uint32_t)i;
	merge_two(d->e, keep, u, a, na, order);
	w = u + na;
	d->order = order;
	d->norder = w;
	order = NULL;
	r = 0;
out:
	free(a);
	free(keep);
	free(order);
	free(bounds);
	groups_free(&gs);
	return r;
}

/* Keep the live entries, sorted by their names in the new tree. */
static int settle_names(struct patch *p, struct pdir *d)
{
	bool names_indexed = false;
	size_t n = 0;
	int r = settle_groups(p, d);

	if (r <= 0)
		return r;
	for (size_t k = 0; k < d->n; k++) {
		struct pentry *e = &d->e[k];

		if (e->dead)
			continue;
		r = original_name(p, e);
		if (r < 0)
			return r;
		/* Old children are in order by their old names; others may not be. */
		e->moved = e->kind != PE_OLD || e->name != ostr(p, p->onodes[e->ref].name);
		d->e[n++] = *e;
	}
	d->n = n;
	d->nold = 0;
	r = sort_merged(d->e, n, entry_cmp);
	if (r < 0)
		return r;
	for (size_t k = 0; k < n; k++) {
		d->e[k].final = d->e[k].name;
		d->e[k].final_len = d->e[k].name_len;
		d->e[k].suffixed = false;
		d->e[k].n = 0;
	}
	tree_uniq_reset(&p->uniq);
	for (size_t k = 1; k < n; k++) {
		struct pentry *e = &d->e[k];
		struct sorted_ctx t = {p, d->e, p->names_size};
		const char *name;
		int len;

		if (snap_name_cmp(d->e[k - 1].name, d->e[k - 1].name_len, e->name, e->name_len) !=
		    0) {
			tree_uniq_run(&p->uniq);
			continue;
		}
		if (e->is_dir)
			continue;
		if (!names_indexed) {
			r = index_names(p, d->e, n);
			if (r < 0)
				return r;
			names_indexed = true;
			t.size = p->names_size;
		}
		len = tree_uniq_next(&p->uniq, e->name, e->name_len, sorted_taken, &t, &name);
		if (len < 0)
			return len;
		e->final = own(p, name, (size_t)len);
		if (e->final == NULL)
			return -ENOMEM;
		e->final_len = (uint32_t)len;
		e->suffixed = true;
		e->n = p->uniq.next - 1;
	}
	for (size_t k = 0; k < n; k++) {
		const struct pentry *e = &d->e[k];
		struct snap_str old_name;

		if (e->kind != PE_OLD)
			continue;
		old_name = p->onodes[e->ref].name;
		if (!sv_eq(e->final, e->final_len, ostr(p, old_name), old_name.len))
			p->dead[e->ref] = 1;
	}
	/* Unsuffixed names keep the order of the sort by name. */
	for (size_t k = 0; k < n; k++)
		d->e[k].moved = d->e[k].final != d->e[k].name;
	return sort_merged(d->e, n, final_cmp);
}

/* ---- emit ---- */

/*
 * Ids.  A node whose path did not change keeps its old id, which is the hash of
 * its path; only new nodes and renamed files hash their path, extending the
 * parent's hash state (computed from the old path for a touched directory).  A
 * new id that equals any old one or another new one, or a reserved value, makes
 * the patch decline: tree_build() would rehash one of them by breadth-first order.
 */
struct new_ids {
	uint64_t *slots; /* open addressing; 0 = empty (ids are >= SNAP_ID_RESERVED) */
	size_t n, size;
};

/* false when id is in the set already (or memory ran out: *ret_r). */
static bool ids_insert(struct new_ids *set, uint64_t id, int *ret_r)
{
	size_t slot;

	if ((set->n + 1) * 2 > set->size) {
		size_t size = set->size ? set->size * 2 : 256;
		uint64_t *slots = calloc(size, sizeof(*slots));

		if (slots == NULL) {
			*ret_r = -ENOMEM;
			return false;
		}
		for (size_t i = 0; i < set->size; i++) {
			if (set->slots[i] == 0)
				continue;
			for (slot = set->slots[i] & (size - 1); slots[slot] != 0;
			     slot = (slot + 1) & (size - 1))
				;
			slots[slot] = set->slots[i];
		}
		free(set->slots);
		set->slots = slots;
		set->size = size;
	}
	for (slot = id & (set->size - 1); set->slots[slot] != 0;
	     slot = (slot + 1) & (set->size - 1)) {
		if (set->slots[slot] == id) {
			*ret_r = -EAGAIN;
			return false;
		}
	}
	set->slots[slot] = id;
	set->n++;
	return true;
}

static int new_id(struct patch *p, struct new_ids *set, const struct hash_state *parent,
                  const char *name, size_t len, uint64_t *ret)
{
	struct hash_state st = *parent;
	const struct snap_node *o;
	uint64_t id;
	int r;

	hash_update(&st, "/", 1);
	hash_update(&st, name, len);
	id = hash_final(&st);
	if (id < SNAP_ID_RESERVED)
		return -EAGAIN;
	o = snapshot_lookup_id(p->old, id);
	/* Free only if that node left the tree or was renamed, and no one took its name. */
	if (o != NULL && p->dead[snapshot_node_index(p->old, o)] != 1)
		return -EAGAIN;
	if (!ids_insert(set, id, &r))
		return r;
	*ret = id;
	return 0;
}

/*
 * A new or renamed child e of d: its final name and the id of its new path.  A
 * name an old node of d had (e->reuse) is its path: that node's string and id.
 */
static int name_node(struct patch *p, struct new_ids *ids, const struct pdir *d,
                     const struct pentry *e, struct snap_node *node)
{
	int r;

	if (e->reuse != 0) {
		node->name = p->onodes[e->reuse - 1].name;
		node->id = p->onodes[e->reuse - 1].id;
		return 0;
	}
	r = add_string(p, e->final, e->final_len, &node->name);

	return r < 0 ? r : new_id(p, ids, &d->st, e->final, e->final_len, &node->id);
}

/* The hash state of the path of old directory idx. */
static void old_state(const struct patch *p, uint32_t idx, struct hash_state *st)
{
	uint32_t chain[SNAP_PATH_MAX / 2];
	size_t depth = 0;

	for (uint32_t n = idx; n != 0 && depth < SNAP_PATH_MAX / 2; n = p->onodes[n].parent)
		chain[depth++] = n;
	hash_init(st, 0);
	while (depth > 0) {
		const struct snap_node *nd = &p->onodes[chain[--depth]];

		hash_update(st, "/", 1);
		hash_update(st, ostr(p, nd->name), nd->name.len);
	}
}

static int prop_key(struct patch *p, uint32_t i, struct snap_str *ret)
{
	const struct snap_prop *props =
	    (const struct snap_prop *)((const char *)p->h + p->h->props_off);
	const char *name = p->schema->names[i];
	size_t len = strlen(name);
	int r;

	if (!p->key_done[i]) {
		p->keys[i] = (struct snap_str){0, 0};
		for (uint32_t k = 0; k < p->h->prop_count; k++) {
			if (sv_eq(ostr(p, props[k].key), props[k].key.len, name, len)) {
				p->keys[i] = props[k].key;
				break;
			}
		}
		if (p->keys[i].len == 0) {
			r = add_string(p, name, len, &p->keys[i]);
			if (r < 0)
				return r;
		}
		p->key_done[i] = true;
	}
	*ret = p->keys[i];
	return 0;
}

static int emit_file(struct patch *p, struct snap_node *node, const struct pfile *f)
{
	struct snapshot_build *out = p->out;
	const struct record *rec = f->rec;
	int r;

	node->type = SNAP_NODE_FILE;
	node->size = f->file.size;
	node->mtime_ns = f->file.mtime_ns;
	node->ctime_ns = f->file.ctime_ns;
	node->flags |= f->file.flags;
	node->rule = f->rule;
	r = add_string(p, rec->values[PROP_FILE_PATH].ptr, rec->values[PROP_FILE_PATH].len,
	               &node->source);
	if (r == 0)
		r = add_string(p, rec->hash_id.ptr, rec->hash_id.len, &node->hash_id);
	if (r < 0)
		return r;
	node->prop_first = out->props_base_count + out->prop_count;
	node->prop_count = 0;
	for (uint32_t i = PROP_CORE_MAX; i < p->schema->count; i++) {
		struct snap_prop *prop;

		if (!record_has(rec, i))
			continue;
		if (out->props_base_count + (uint64_t)out->prop_count >= UINT32_MAX)
			return -EOVERFLOW;
		r = tree_grow(&out->props, &p->prop_cap, (size_t)out->prop_count + 1,
		              sizeof(*out->props));
		if (r < 0)
			return r;
		prop = &out->props[out->prop_count];
		r = prop_key(p, i, &prop->key);
		if (r == 0)
			r = add_string(p, rec->values[i].ptr, rec->values[i].len, &prop->value);
		if (r < 0)
			return r;
		out->prop_count++;
		node->prop_count++;
	}
	return 0;
}

/* A directory waiting in the breadth-first queue. */
struct qdir {
	uint32_t node; /* in out */
	uint32_t old;  /* old node index or NO_INDEX */
	uint32_t pdir; /* pdir index or NO_INDEX */
	uint32_t top;  /* the child of the root it is in (0: the root) */
};

static void count_node(struct patch *p, const struct snap_node *n, uint32_t top)
{
	p->live_bytes += n->name.len + 1u + n->source.len + 1u + n->hash_id.len + 1u;
	p->live_props += n->prop_count;
	if (n->type != SNAP_NODE_FILE)
		return;
	p->out->files++;
	p->out->total_bytes += n->size;
	p->rule_files[n->rule < p->h->rule_count ? n->rule : p->h->rule_count]++;
	p->top_files[top]++;
	p->top_bytes[top] += n->size;
}

static int emit(struct patch *p, size_t total)
{
	struct snapshot_build *out = p->out;
	struct new_ids ids = {0};
	struct qdir *queue = NULL;
	/* Every directory of the new tree is queued once: the old ones and new pdirs. */
	size_t qhead = 0, qtail = 0, qcap = (size_t)p->h->directories + p->npdirs + 1;
	uint32_t next = 1;
	int r = -ENOMEM;

	r = tree_nodes_room(p->nodes_fn, p->nodes_ctx, total, out);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	queue = malloc(qcap * sizeof(*queue));
	if (queue == NULL)
		goto out;
	memset(&out->nodes[0], 0, sizeof(out->nodes[0]));
	out->nodes[0].id = SNAP_ROOT_ID;
	out->nodes[0].type = SNAP_NODE_DIR;
	queue[0] = (struct qdir){.node = 0, .old = 0};
	queue[0].pdir = p->pdir_of[0] ? p->pdir_of[0] - 1 : NO_INDEX;
	qtail = 1;
	while (qhead < qtail) {
		struct qdir q = queue[qhead++];
		struct pdir *d = q.pdir != NO_INDEX ? &p->pdirs[q.pdir] : NULL;
		const struct snap_node *on = q.old != NO_INDEX ? &p->onodes[q.old] : NULL;
		uint32_t n = d == NULL          ? on->child_count
		             : d->order != NULL ? (uint32_t)d->norder
		                                : (uint32_t)d->n;

		if (d != NULL && !d->has_st) {
			old_state(p, q.old, &d->st);
			d->has_st = true;
		}
		out->nodes[q.node].first_child = n ? next : 0;
		out->nodes[q.node].child_count = n;
		if (q.node == 0) {
			p->top_files = calloc(n + 1, sizeof(*p->top_files));
			p->top_bytes = calloc(n + 1, sizeof(*p->top_bytes));
			if (p->top_files == NULL || p->top_bytes == NULL) {
				r = -ENOMEM;
				goto out;
			}
		}
		if (d == NULL) {
			/* Untouched: the old slice, one copy; its directories queued. */
			memcpy(&out->nodes[next], &p->onodes[on->first_child],
			       n * sizeof(*out->nodes));
			for (uint32_t k = 0; k < n; k++) {
				struct snap_node *node = &out->nodes[next + k];
				uint32_t oidx = on->first_child + k;
				uint32_t top = q.node == 0 ? next + k : q.top;

				node->parent = q.node;
				count_node(p, node, top);
				if (node->type != SNAP_NODE_DIR)
					continue;
				node->mtime_ns = 0;
				node->ctime_ns = 0;
				if (qtail == qcap) {
					r = -EAGAIN; /* more directories than the old tree counted */
					goto out;
				}
				queue[qtail++] = (struct qdir){
				    .node = next + k,
				    .old = oidx,
				    .pdir = p->pdir_of[oidx] ? p->pdir_of[oidx] - 1 : NO_INDEX,
				    .top = top,
				};
			}
			next += n;
			continue;
		}
		for (uint32_t k = 0; k < n; k++) {
			struct snap_node *node = &out->nodes[next];
			struct qdir child = {.node = next, .old = NO_INDEX, .pdir = NO_INDEX};
			const struct pentry *e = &d->e[d->order != NULL ? d->order[k] : k];

			child.top = q.node == 0 ? next : q.top;

			if (e->kind == PE_OLD) {
				const struct snap_node *o = &p->onodes[e->ref];

				*node = *o;
				node->flags &= (uint16_t)~SNAP_NODE_F_SUFFIXED;
				if (e->suffixed)
					node->flags |= SNAP_NODE_F_SUFFIXED;
				if (e->final != NULL &&
				    !sv_eq(e->final, e->final_len, ostr(p, o->name), o->name.len)) {
					r = name_node(p, &ids, d, e, node);
					if (r < 0)
						goto out;
				}
				if (o->type == SNAP_NODE_DIR) {
					node->mtime_ns = 0;
					node->ctime_ns = 0;
					child.old = e->ref;
					child.pdir =
					    p->pdir_of[e->ref] ? p->pdir_of[e->ref] - 1 : NO_INDEX;
				}
			} else {
				memset(node, 0, sizeof(*node));
				if (e->suffixed)
					node->flags = SNAP_NODE_F_SUFFIXED;
				r = name_node(p, &ids, d, e, node);
				if (r < 0)
					goto out;
				if (e->kind == PE_DIR) {
					struct pdir *nd = &p->pdirs[e->ref];

					node->type = SNAP_NODE_DIR;
					child.pdir = e->ref;
					nd->has_st = true;
					nd->st = d->st;
					hash_update(&nd->st, "/", 1);
					hash_update(&nd->st, e->final, e->final_len);
				} else {
					r = emit_file(p, node, &p->pfiles[e->ref]);
					if (r < 0)
						goto out;
				}
			}
			node->parent = q.node;
			count_node(p, node, child.top);
			if (node->type == SNAP_NODE_DIR) {
				if (qtail == qcap) {
					r = -EAGAIN;
					goto out;
				}
				queue[qtail++] = child;
			}
			next++;
		}
	}
	if (next != total) {
		r = -EAGAIN;
		goto out;
	}
	out->node_count = next;
	tree_date_directories(out, tree_now_ns());
	r = 0;
out:
	free(queue);
	free(ids.slots);
	return r;
}

/* ---- statistics ---- */

static int emit_stats(struct patch *p)
{
	struct snapshot_build *out = p->out;
	const struct snap_node *root = &out->nodes[0];
	uint32_t nrules = rules_count(p->rules), orules, oskips, ncat = 0;
	const struct snap_rule *rules = snapshot_rules(p->old, &orules);
	const struct snap_skip *skips = snapshot_skips(p->old, &oskips);
	uint64_t counts[NSKIPS] = {0};
	struct snap_str reason[NSKIPS] = {{0, 0}}, example[NSKIPS] = {{0, 0}};
	uint64_t hidden;
	int r;

	out->categories = calloc(root->child_count + 1, sizeof(*out->categories));
	out->rules = calloc(nrules ? nrules : 1, sizeof(*out->rules));
	out->skips = calloc(NSKIPS, sizeof(*out->skips));
	if (out->categories == NULL || out->rules == NULL || out->skips == NULL)
		return -ENOMEM;
	/* Categories are the root's directories: nodes 1..child_count in name order. */
	for (uint32_t i = 1; i <= root->child_count; i++) {
		if (out->nodes[i].type != SNAP_NODE_DIR)
			continue;
		out->categories[ncat].name = out->nodes[i].name;
		out->categories[ncat].files = p->top_files[i];
		out->categories[ncat].bytes = p->top_bytes[i];
		ncat++;
	}
	out->category_count = ncat;
	out->rule_count = nrules;
	for (uint32_t i = 0; i < nrules; i++) {
		out->rules[i].name = rules[i].name;
		out->rules[i].files = p->rule_files[i];
		if ((int64_t)rules[i].hidden + p->rule_hidden_delta[i] < 0)
			return -EAGAIN;
		out->rules[i].hidden =
		    (uint64_t)((int64_t)rules[i].hidden + p->rule_hidden_delta[i]);
	}
	out->directories = out->node_count - out->files;
	hidden = p->h->hidden;
	if ((int64_t)hidden + p->hidden_delta < 0)
		return -EAGAIN;
	out->hidden = (uint64_t)((int64_t)hidden + p->hidden_delta);

	for (uint32_t k = 0; k < oskips; k++) {
		unsigned i;

		for (i = 0; i < NSKIPS; i++)
			if (strcmp(ostr(p, skips[k].reason), tree_skip_reasons[i]) == 0)
				break;
		if (i == NSKIPS)
			return -EAGAIN;
		counts[i] = skips[k].count;
		reason[i] = skips[k].reason;
		example[i] = skips[k].example;
	}
	for (unsigned i = 0; i < NSKIPS; i++) {
		struct snap_skip *k;
		int64_t c = (int64_t)counts[i] + p->skip_delta[i];

		if (c < 0)
			return -EAGAIN;
		if (c == 0)
			continue;
		k = &out->skips[out->skip_count++];
		k->count = (uint64_t)c;
		if (i < TREE_SKIP_RECORDS)
			out->skipped += (uint64_t)c;
		if (counts[i] == 0) {
			/* A reason new in this tree: one of the changed records has it. */
			if (p->skip_new_example[i].ptr == NULL)
				return -EAGAIN;
			r = add_string(p, tree_skip_reasons[i], strlen(tree_skip_reasons[i]),
			               &k->reason);
			if (r == 0)
				r = add_string(p, p->skip_new_example[i].ptr,
				               p->skip_new_example[i].len, &k->example);
			if (r < 0)
				return r;
			continue;
		}
		k->reason = reason[i];
		k->example = example[i];
	}
	return 0;
}

/* The skip reasons and notes (1 << enum tree_skip) of a record. */
static uint32_t record_reasons(struct patch *p, const struct record *rec)
{
	char path[SNAP_PATH_MAX];
	struct tree_file f;
	uint32_t reason;

	switch (tree_place(p->rules, rec, path, &reason)) {
	case TREE_SKIPPED:
		return 1u << reason;
	case TREE_PLACED:
		tree_file_of(rec, &f);
		return f.notes;
	case TREE_HIDDEN:
		break;
	}
	return 0;
}

/* Was the example of a skip reason among the records that lost that reason? */
static bool example_gone(struct patch *p, const struct tree_change *changes, size_t count)
{
	uint32_t oskips;
	const struct snap_skip *skips = snapshot_skips(p->old, &oskips);

	for (uint32_t k = 0; k < oskips; k++) {
		const char *ex = ostr(p, skips[k].example);
		unsigned i;

		for (i = 0; i < NSKIPS; i++)
			if (strcmp(ostr(p, skips[k].reason), tree_skip_reasons[i]) == 0)
				break;
		for (size_t c = 0; c < count; c++) {
			const struct record *o = changes[c].old;

			if (o == NULL ||
			    !sv_eq(o->hash_id.ptr, o->hash_id.len, ex, skips[k].example.len))
				continue;
			/* Gone unless the new version has the same reason. */
			if (i == NSKIPS || changes[c].new == NULL ||
			    !(record_reasons(p, changes[c].new) & 1u << i))
				return true;
		}
	}
	return false;
}

/*
 * Decline when the copied strings are more than half garbage: the strings of the
 * nodes (counted while emitting) and the values of every property (those of
 * removed files too, so this errs towards patching; the property count itself is
 * checked exactly), read front to back.
 */
static bool too_much_garbage(const struct patch *p)
{
	const struct snapshot_build *out = p->out;
	uint64_t live = p->live_bytes;

	uint64_t props = out->props_base_count + (uint64_t)out->prop_count;

	for (uint32_t k = 0; k < out->props_base_count; k++)
		live += out->props_base[k].value.len + 1u;
	for (uint32_t k = 0; k < out->prop_count; k++)
		live += out->props[k].value.len + 1u;
	return out->strings_base_size + out->strings_size > 2 * live + (1u << 16) ||
	       props > 2 * p->live_props + 1024;
}

static void patch_free(struct patch *p)
{
	for (size_t i = 0; i < p->npdirs; i++) {
		free(p->pdirs[i].e);
		free(p->pdirs[i].order);
		free(p->pdirs[i].killed);
		free(p->pdirs[i].byhash);
	}
	free(p->pdirs);
	free(p->pdir_of);
	free(p->pfiles);
	free(p->dead);
	free(p->names);
	for (size_t i = 0; i < p->arena.nblocks; i++)
		free(p->arena.blocks[i]);
	free(p->arena.blocks);
	tree_uniq_free(&p->uniq);
	free(p->rule_hidden_delta);
	free(p->rule_files);
	free(p->top_files);
	free(p->top_bytes);
	free(p->keys);
	free(p->key_done);
}

int tree_patch(const struct snapshot *old, const struct rules *rules, const struct schema *schema,
               const struct tree_change *changes, size_t count, tree_lookup_fn lookup,
               void *lookup_ctx, struct snapshot_build **ret)
{
	return tree_patch_into(old, rules, schema, changes, count, lookup, lookup_ctx, NULL, NULL,
	                       NULL, ret);
}

int tree_patch_into(const struct snapshot *old, const struct rules *rules,
                    const struct schema *schema, const struct tree_change *changes, size_t count,
                    tree_lookup_fn lookup, void *lookup_ctx, tree_nodes_fn nodes_fn,
                    void *nodes_ctx, struct tree_sizes *sizes, struct snapshot_build **ret)
{
	struct patch p = {
	    .old = old,
	    .rules = rules,
	    .schema = schema,
	    .lookup = lookup,
	    .lookup_ctx = lookup_ctx,
	    .nodes_fn = nodes_fn,
	    .nodes_ctx = nodes_ctx,
	    .sizes = sizes,
	};
	const char *base;
	size_t total, dead = 0, added = 0;
	uint32_t nrules = rules_count(rules);
	int r = -ENOMEM;

	if (count > TREE_PATCH_MAX)
		return -EAGAIN;
	p.h = snapshot_header(old);
	p.onode_count = snapshot_node_count(old);
	p.onodes = snapshot_node(old, 0);
	if (p.h->rule_count != nrules || p.onode_count == 0)
		return -EAGAIN;
	tree_uniq_init(&p.uniq);
	p.pdir_of = calloc(p.onode_count, sizeof(*p.pdir_of));
	p.dead = calloc(p.onode_count, sizeof(*p.dead));
	p.rule_hidden_delta = calloc(nrules + 1, sizeof(*p.rule_hidden_delta));
	p.rule_files = calloc(nrules + 1, sizeof(*p.rule_files));
	p.keys = calloc(schema->count, sizeof(*p.keys));
	p.key_done = calloc(schema->count, sizeof(*p.key_done));
	p.out = calloc(1, sizeof(*p.out));
	if (p.pdir_of == NULL || p.dead == NULL || p.rule_hidden_delta == NULL ||
	    p.rule_files == NULL || p.keys == NULL || p.key_done == NULL || p.out == NULL)
		goto fail;

	r = -EAGAIN;
	if (example_gone(&p, changes, count))
		goto fail;
	for (size_t i = 0; i < count; i++) {
		r = apply_change(&p, &changes[i]);
		if (r < 0)
			goto fail;
	}
	r = drop_empty(&p);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < p.npdirs; i++) {
		const struct pdir *d = &p.pdirs[i];

		for (size_t k = 0; k < d->n; k++) {
			if (d->e[k].kind == PE_OLD)
				dead += d->e[k].dead;
			else
				added++;
		}
	}
	for (size_t i = 0; i < p.npdirs; i++) {
		r = settle_names(&p, &p.pdirs[i]);
		if (r < 0)
			goto fail;
	}
	total = p.onode_count - dead + added;
	if (total > UINT32_MAX - 1) {
		r = -EOVERFLOW;
		goto fail;
	}

	/* The old strings and properties continue, borrowed: old offsets stay valid. */
	base = (const char *)p.h;
	p.out->strings_base = base + p.h->strings_off;
	p.out->strings_base_size = p.h->strings_size;
	p.out->props_base = (const struct snap_prop *)(base + p.h->props_off);
	p.out->props_base_count = p.h->prop_count;

	r = emit(&p, total);
	if (r == 0)
		r = emit_stats(&p);
	if (r == 0 && too_much_garbage(&p))
		r = -EAGAIN;
	if (r < 0)
		goto fail;
	*ret = p.out;
	p.out = NULL;
	patch_free(&p);
	return 0;
fail:
	snapshot_build_free(p.out);
	patch_free(&p);
	return r;
}
