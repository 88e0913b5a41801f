/*
 * dump: `meta-fuse dump` prints a snapshot as JSON lines: one header line, then one
 * line per node in depth-first, name order (the order `find` would show).  Tests
 * and people use it to see exactly what the tree holds; the format is documented
 * in docs/snapshot-format.md ("meta-fuse dump").
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "snapshot.h"

static void put_key(FILE *out, const char *key)
{
	json_put_string(out, key, strlen(key));
	putc(':', out);
}

static void put_snap_str(FILE *out, const struct snapshot *s, const char *key, struct snap_str v)
{
	put_key(out, key);
	json_put_string(out, snapshot_str(s, v), v.len);
}

/* Times are printed in milliseconds since the epoch, like the KV store's values. */
static int64_t ms(int64_t ns)
{
	return ns / 1000000;
}

static void dump_header(FILE *out, const struct snapshot *s)
{
	const struct snap_header *h = snapshot_header(s);
	const struct snap_category *cats;
	const struct snap_skip *skips;
	const struct snap_rule *rules;
	uint32_t ncat, nskip, nrules;

	cats = snapshot_categories(s, &ncat);
	skips = snapshot_skips(s, &nskip);
	rules = snapshot_rules(s, &nrules);
	fprintf(out,
	        "{\"generation\":%" PRIu64 ",\"buildTime\":%" PRId64 ",\"files\":%" PRIu64
	        ",\"directories\":%" PRIu64 ",\"totalSize\":%" PRIu64 ",\"categories\":{",
	        h->generation, ms(h->build_time_ns), h->files, h->directories, h->total_bytes);
	for (uint32_t i = 0; i < ncat; i++) {
		if (i > 0)
			putc(',', out);
		put_key(out, snapshot_str(s, cats[i].name));
		fprintf(out, "%" PRIu64, cats[i].files);
	}
	fprintf(out, "},\"skipped\":%" PRIu64 ",\"skippedReasons\":[", h->skipped);
	for (uint32_t i = 0; i < nskip; i++) {
		fputs(i > 0 ? ",{" : "{", out);
		put_snap_str(out, s, "reason", skips[i].reason);
		putc(',', out);
		put_snap_str(out, s, "example", skips[i].example);
		fprintf(out, ",\"count\":%" PRIu64 "}", skips[i].count);
	}
	fprintf(out, "],\"hidden\":%" PRIu64 ",\"rules\":[", h->hidden);
	for (uint32_t i = 0; i < nrules; i++) {
		fputs(i > 0 ? ",{" : "{", out);
		put_snap_str(out, s, "name", rules[i].name);
		fprintf(out, ",\"files\":%" PRIu64 ",\"hidden\":%" PRIu64 "}", rules[i].files,
		        rules[i].hidden);
	}
	fprintf(out, "],\"kv\":{\"connected\":%s,", h->kv_connected ? "true" : "false");
	put_snap_str(out, s, "leader", h->kv_leader);
	putc(',', out);
	put_snap_str(out, s, "error", h->kv_error);
	fprintf(out,
	        ",\"errorSince\":%" PRId64 ",\"lastSync\":%" PRId64
	        ",\"held\":%s,\"heldRemovals\":%" PRIu64 ",\"resyncing\":%s}}\n",
	        ms(h->kv_error_since_ns), ms(h->kv_last_sync_ns),
	        (h->kv_flags & SNAP_KV_HELD) ? "true" : "false", h->kv_held_removals,
	        (h->kv_flags & SNAP_KV_RESYNCING) ? "true" : "false");
}

static void dump_node(FILE *out, const struct snapshot *s, const struct snap_node *n,
                      const char *path, size_t path_len)
{
	bool dir = snapshot_node_is_dir(n);

	fputs("{", out);
	put_key(out, "path");
	json_put_string(out, path, path_len);
	fprintf(out, ",\"type\":\"%s\",\"id\":%" PRIu64 ",\"size\":%" PRIu64 ",\"mtime\":%" PRId64,
	        dir ? "dir" : "file", n->id, n->size, ms(n->mtime_ns));
	if (!dir) {
		const struct snap_prop *props;
		uint32_t count, nrules;
		const struct snap_rule *rules = snapshot_rules(s, &nrules);

		putc(',', out);
		put_snap_str(out, s, "source", n->source);
		putc(',', out);
		put_snap_str(out, s, "hashId", n->hash_id);
		putc(',', out);
		put_snap_str(out, s, "rule", rules[n->rule].name);
		fputs(",\"meta\":{", out);
		props = snapshot_props(s, n, &count);
		for (uint32_t i = 0; i < count; i++) {
			if (i > 0)
				putc(',', out);
			put_snap_str(out, s, snapshot_str(s, props[i].key), props[i].value);
		}
		putc('}', out);
	}
	fputs("}\n", out);
}

/* Depth-first, children in name order; the path grows and shrinks in one buffer. */
static void dump_tree(FILE *out, const struct snapshot *s, const struct snap_node *dir, char *path,
                      size_t len)
{
	uint32_t count;
	const struct snap_node *children = snapshot_children(s, dir, &count);

	for (uint32_t i = 0; i < count; i++) {
		const struct snap_node *c = &children[i];
		size_t clen = len + 1 + c->name.len;

		if (clen >= SNAP_PATH_MAX * 2)
			continue; /* deeper than any client could reach; the reader bounds depth */
		path[len] = '/';
		memcpy(path + len + 1, snapshot_str(s, c->name), c->name.len);
		dump_node(out, s, c, path, clen);
		if (snapshot_node_is_dir(c))
			dump_tree(out, s, c, path, clen);
	}
}

static void usage(FILE *out)
{
	fprintf(out, "usage: meta-fuse dump [-c FILE | --runtime-dir DIR | SNAPSHOT]\n");
}

static int snapshot_path_from_config(const char *config_path, char *buf, size_t len)
{
	struct config *cfg = NULL;
	char err[512];
	int r = config_load(config_path, &cfg, err, sizeof(err));

	if (r < 0) {
		fprintf(stderr, "meta-fuse: %s\n", err);
		return r;
	}
	snprintf(buf, len, "%s/%s", cfg->runtime_dir, SNAP_FILE_NAME);
	config_free(cfg);
	return 0;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"runtime-dir", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *config_path = NULL, *runtime_dir = NULL;
	char path[4096], err[512], *buf;
	struct snapshot *s;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'r':
			runtime_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	if (optind < argc - 1 || (optind < argc && (config_path || runtime_dir)) ||
	    (config_path && runtime_dir)) {
		usage(stderr);
		return EXIT_CONFIG;
	}
	if (optind < argc)
		snprintf(path, sizeof(path), "%s", argv[optind]);
	else if (runtime_dir != NULL)
		snprintf(path, sizeof(path), "%s/%s", runtime_dir, SNAP_FILE_NAME);
	else if (snapshot_path_from_config(config_path, path, sizeof(path)) < 0)
		return EXIT_CONFIG;

	r = snapshot_load(path, &s, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "meta-fuse: %s\n", err);
		return EXIT_TEMPFAIL;
	}
	buf = malloc(SNAP_PATH_MAX * 2 + SNAP_NAME_MAX + 2);
	if (buf == NULL) {
		snapshot_free(s);
		return EXIT_TEMPFAIL;
	}
	dump_header(stdout, s);
	dump_node(stdout, s, snapshot_root(s), "/", 1);
	dump_tree(stdout, s, snapshot_root(s), buf, 0);
	free(buf);
	snapshot_free(s);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "meta-fuse: dump: write error: %s\n", strerror(errno));
		return EXIT_TEMPFAIL;
	}
	return 0;
}
