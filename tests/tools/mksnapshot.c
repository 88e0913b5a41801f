/*
 * mf-mksnapshot: a test tool that writes a snapshot from records given as JSON
 * lines, through the same rules, tree builder and writer that kvwatch uses, but
 * without Redis.  Tests of the readers (fused, davd, apid) and the benchmarks use
 * it to make large or odd trees quickly; the end-to-end tests use kvwatch.
 *
 *   mf-mksnapshot -c CONF [--runtime-dir DIR] [--generation N]
 *                 [--disconnected "error text"] < records.jsonl
 *
 * Each line: {"hashId": "abc", "filePath": "media/x.mkv", "title": "X", "size": 10}.
 * Values may be strings or numbers; properties outside the schema are ignored,
 * as kvwatch would not fetch them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "log.h"
#include "snapshot_writer.h"
#include "tree.h"

struct input {
	struct record *records;
	const struct record **ptrs;
	json_t **docs; /* the records borrow the documents' strings */
	char **numbers;
	size_t count, cap, nnumbers, numbers_cap;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *keep_number(struct input *in, json_t *v)
{
	char buf[64];

	if (json_is_integer(v))
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
	if (in->nnumbers == in->numbers_cap) {
		in->numbers_cap = in->numbers_cap ? in->numbers_cap * 2 : 1024;
		in->numbers = realloc(in->numbers, in->numbers_cap * sizeof(*in->numbers));
		if (in->numbers == NULL)
			fatalx("out of memory");
	}
	return in->numbers[in->nnumbers++] = strdup(buf);
}

static void read_records(struct input *in, const struct schema *schema)
{
	char *line = NULL;
	size_t linecap = 0, lineno = 0;
	ssize_t n;

	while ((n = getline(&line, &linecap, stdin)) > 0) {
		json_error_t jerr;
		json_t *doc, *id;
		struct record *r;
		const char *key;
		json_t *v;

		lineno++;
		if (n <= 1)
			continue;
		doc = json_loadb(line, (size_t)n, 0, &jerr);
		if (doc == NULL || !json_is_object(doc))
			fatalx("stdin:%zu: not a JSON object: %s", lineno, jerr.text);
		id = json_object_get(doc, "hashId");
		if (!json_is_string(id))
			fatalx("stdin:%zu: \"hashId\" must be a string", lineno);
		if (in->count == in->cap) {
			in->cap = in->cap ? in->cap * 2 : 1024;
			in->records = realloc(in->records, in->cap * sizeof(*in->records));
			in->docs = realloc(in->docs, in->cap * sizeof(*in->docs));
			if (in->records == NULL || in->docs == NULL)
				fatalx("out of memory");
		}
		r = &in->records[in->count];
		in->docs[in->count++] = doc;
		r->hash_id.ptr = json_string_value(id);
		r->hash_id.len = (uint32_t)json_string_length(id);
		r->values = calloc(schema->count, sizeof(*r->values));
		if (r->values == NULL)
			fatalx("out of memory");
		json_object_foreach(doc, key, v)
		{
			int idx = schema_find(schema, key, strlen(key));

			if (idx < 0)
				continue;
			if (json_is_string(v)) {
				r->values[idx].ptr = json_string_value(v);
				r->values[idx].len = (uint32_t)json_string_length(v);
			} else if (json_is_number(v)) {
				r->values[idx].ptr = keep_number(in, v);
				r->values[idx].len = (uint32_t)strlen(r->values[idx].ptr);
			}
		}
		record_derive(r);
	}
	free(line);
	in->ptrs = malloc((in->count ? in->count : 1) * sizeof(*in->ptrs));
	if (in->ptrs == NULL)
		fatalx("out of memory");
	for (size_t i = 0; i < in->count; i++)
		in->ptrs[i] = &in->records[i];
}

static void input_free(struct input *in)
{
	for (size_t i = 0; i < in->count; i++) {
		free(in->records[i].values);
		json_decref(in->docs[i]);
	}
	for (size_t i = 0; i < in->nnumbers; i++)
		free(in->numbers[i]);
	free(in->numbers);
	free(in->records);
	free(in->docs);
	free(in->ptrs);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"runtime-dir", required_argument, NULL, 'r'},
	    {"generation", required_argument, NULL, 'g'},
	    {"disconnected", required_argument, NULL, 'd'},
	    {0},
	};
	const char *config_path = NULL, *runtime_dir = NULL;
	struct snapshot_kv_state kv = {.connected = true, .leader = "redis://test"};
	struct snapshot_build *build = NULL;
	struct input in = {0};
	struct config *cfg;
	uint64_t generation = 1;
	char err[512];
	int c, r;

	log_init("mf-mksnapshot", 0);
	while ((c = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'r':
			runtime_dir = optarg;
			break;
		case 'g':
			generation = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			kv.connected = false;
			kv.error = optarg;
			kv.error_since_ns = now_ns();
			break;
		default:
			fprintf(stderr, "usage: mf-mksnapshot -c CONF [--runtime-dir DIR] "
			                "[--generation N] [--disconnected TEXT] < records.jsonl\n");
			return EXIT_CONFIG;
		}
	}
	r = config_load(config_path, &cfg, err, sizeof(err));
	if (r < 0)
		fatalx("%s", err);
	read_records(&in, &cfg->schema);
	kv.last_sync_ns = kv.connected ? now_ns() : 0;
	r = tree_build(cfg->rules, &cfg->schema, in.ptrs, in.count, &build);
	if (r < 0)
		fatalx("building the tree: %s", strerror(-r));
	r = snapshot_write(build, &kv, generation, now_ns(),
	                   runtime_dir ? runtime_dir : cfg->runtime_dir, SNAP_FILE_NAME);
	if (r < 0)
		fatalx("writing the snapshot to \"%s\": %s",
		       runtime_dir ? runtime_dir : cfg->runtime_dir, strerror(-r));
	printf("generation %" PRIu64 ": %" PRIu64 " files, %" PRIu64 " directories, %" PRIu64
	       " skipped, %" PRIu64 " hidden\n",
	       generation, build->files, build->directories, build->skipped, build->hidden);
	snapshot_build_free(build);
	input_free(&in);
	config_free(cfg);
	return 0;
}
