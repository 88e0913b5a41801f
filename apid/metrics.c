/*
 * metrics: GET /metrics, the Prometheus text exposition format (version
 * 0.0.4): the served snapshot (files, directories, bytes, categories,
 * generation, age, last sync, KV state, held removals, skipped and hidden
 * records), the supervisor's workers (from status.json, when there is one)
 * the HTTP counters and latency histograms the shared HTTP layer keeps
 * (server.c hands them in through api->http_metrics), and fused's operation
 * counts and latencies from runtime_dir/metrics/fused.metrics.
 *
 * Every series is written with its # HELP and # TYPE lines once, and label
 * values go through one escaping function (put_label).  Names start with
 * mf_.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "fuse_metrics.h"
#include "generation.h"
#include "snapshot.h"
#include "workers.h"

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *v)
{
	putc('"', f);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			putc(*v, f);
	}
	putc('"', f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
	head(f, name, "gauge", help);
	fprintf(f, "%s %.17g\n", name, v);
}

static void labelled(FILE *f, const char *name, const char *label, const char *value, double v)
{
	fprintf(f, "%s{%s=", name, label);
	put_label(f, value);
	fprintf(f, "} %.17g\n", v);
}

static void snapshot_metrics(FILE *f, const struct api *api, const struct generation *g)
{
	const struct snapshot *s = g->snap;
	const struct snap_header *h = s ? snapshot_header(s) : NULL;
	static const struct snap_header none;
	const struct snap_category *cat = NULL;
	const struct snap_rule *rules = NULL;
	const struct snap_skip *skips = NULL;
	uint32_t ncat = 0, nrules = 0, nskips = 0;
	double now = (double)api_now_ns(api) / 1e9;

	if (h == NULL)
		h = &none;
	else {
		cat = snapshot_categories(s, &ncat);
		rules = snapshot_rules(s, &nrules);
		skips = snapshot_skips(s, &nskips);
	}
	gauge(f, "mf_snapshot_loaded", "Whether a snapshot is served (1) or none yet (0).",
	      s != NULL);
	gauge(f, "mf_snapshot_shared",
	      "Whether apid maps kvwatch's shared copy of the snapshot (1) or a private copy (0).",
	      g->shared);
	gauge(f, "mf_generation", "Generation of the served snapshot.", (double)g->number);
	gauge(f, "mf_files", "Files in the virtual tree.", (double)h->files);
	gauge(f, "mf_directories", "Directories in the virtual tree, the root included.",
	      (double)h->directories);
	gauge(f, "mf_bytes", "Sum of the sizes of the files in the virtual tree.",
	      (double)h->total_bytes);
	head(f, "mf_category_files", "gauge", "Files per top-level directory.");
	for (uint32_t i = 0; i < ncat; i++)
		labelled(f, "mf_category_files", "category", snapshot_str(s, cat[i].name),
		         (double)cat[i].files);
	head(f, "mf_category_bytes", "gauge", "Bytes per top-level directory.");
	for (uint32_t i = 0; i < ncat; i++)
		labelled(f, "mf_category_bytes", "category", snapshot_str(s, cat[i].name),
		         (double)cat[i].bytes);
	gauge(f, "mf_snapshot_timestamp_seconds", "When the served snapshot was built.",
	      (double)h->build_time_ns / 1e9);
	gauge(f, "mf_snapshot_age_seconds", "Age of the served snapshot.",
	      h->build_time_ns ? now - (double)h->build_time_ns / 1e9 : 0);
	gauge(f, "mf_kv_last_sync_timestamp_seconds",
	      "Last successful full sync with the key-value store (0: never).",
	      (double)h->kv_last_sync_ns / 1e9);
	gauge(f, "mf_kv_connected", "Whether kvwatch was connected to the store (1) or not.",
	      h->kv_connected != 0);
	gauge(f, "mf_kv_removal_held", "Whether a large removal is being held back.",
	      (h->kv_flags & SNAP_KV_HELD) != 0);
	gauge(f, "mf_kv_held_removals", "Files a held-back change would remove.",
	      (double)h->kv_held_removals);
	gauge(f, "mf_skipped_records", "Records no rule could place.", (double)h->skipped);
	head(f, "mf_skipped_records_by_reason", "gauge", "Records skipped, per reason.");
	for (uint32_t i = 0; i < nskips; i++)
		labelled(f, "mf_skipped_records_by_reason", "reason",
		         snapshot_str(s, skips[i].reason), (double)skips[i].count);
	gauge(f, "mf_hidden_records", "Records a rule hid on purpose.", (double)h->hidden);
	head(f, "mf_rule_files", "gauge", "Files each rule placed.");
	for (uint32_t i = 0; i < nrules; i++)
		labelled(f, "mf_rule_files", "rule", snapshot_str(s, rules[i].name),
		         (double)rules[i].files);
	head(f, "mf_rule_hidden_records", "gauge", "Records each rule hid.");
	for (uint32_t i = 0; i < nrules; i++)
		labelled(f, "mf_rule_hidden_records", "rule", snapshot_str(s, rules[i].name),
		         (double)rules[i].hidden);
}

static void worker_metrics(FILE *f, const struct api *api)
{
	static const struct {
		const char *name, *type, *help, *field;
	} series[] = {
	    {"mf_worker_up", "gauge", "Whether the worker is running (1) or not (0).", NULL},
	    {"mf_worker_restarts_total", "counter", "Restarts of the worker.", "restarts"},
	    {"mf_worker_pid", "gauge", "Process id of the worker (0: not running).", "pid"},
	};
	json_t *doc = NULL, *workers;
	char err[512];
	size_t i;
	json_t *w;

	gauge(f, "mf_supervisor_status_available",
	      "Whether the supervisor's status.json could be read.",
	      workers_load(api->cfg, &doc, err, sizeof(err)) == 0);
	workers = doc ? json_object_get(doc, "workers") : NULL;
	for (size_t k = 0; k < sizeof(series) / sizeof(series[0]); k++) {
		head(f, series[k].name, series[k].type, series[k].help);
		json_array_foreach(workers, i, w)
		{
			const char *name = json_string_value(json_object_get(w, "name"));
			const char *state = json_string_value(json_object_get(w, "state"));
			json_t *v;
			double x;

			if (name == NULL)
				continue;
			if (series[k].field == NULL) {
				x = state && strcmp(state, "running") == 0;
			} else {
				v = json_object_get(w, series[k].field);
				if (!json_is_integer(v))
					continue;
				x = (double)json_integer_value(v);
			}
			labelled(f, series[k].name, "worker", name, x);
		}
	}
	json_decref(doc);
}

/* fused's operation counts, from its counters file (lib/fuse_metrics.h), when it keeps one. */
static void fuse_metrics(FILE *f, const struct api *api)
{
	struct fuse_metrics_file *counts = NULL;
	char path[4096];

	if (snprintf(path, sizeof(path),
	             "%s/" METRICS_FILE_DIR "/" FUSE_METRICS_NAME METRICS_FILE_SUFFIX,
	             api->cfg->runtime_dir) >= (int)sizeof(path) ||
	    fuse_metrics_load(path, &counts) < 0)
		counts = NULL;
	fuse_metrics_prometheus(counts, f);
	free(counts);
}

int api_metrics(struct api_call *c)
{
	struct api_response *resp = c->resp;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (f == NULL)
		return -ENOMEM;
	snapshot_metrics(f, c->api, c->gen);
	worker_metrics(f, c->api);
	gauge(f, "mf_apid_start_timestamp_seconds", "When meta-fuse-apid started.",
	      (double)c->api->started_ns / 1e9);
	if (c->api->http_metrics)
		c->api->http_metrics(c->api->http_metrics_ctx, f);
	fuse_metrics(f, c->api);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	if (!resp->body_static)
		free(resp->body);
	resp->status = 200;
	resp->content_type = METRICS_TYPE;
	resp->body = buf;
	resp->len = len;
	resp->body_static = false;
	return 0;
}
