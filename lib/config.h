/*
 * config: the one configuration of the suite, a libconfig file plus environment
 * overrides (the environment wins), turned into one typed struct.
 *
 * Every key, its environment variable, type and default sits in one table in
 * config.c; docs/configuration.md documents the same table.  Loading validates
 * everything and refuses the file with one actionable message on the first
 * error; unknown keys only warn.  The caller logs: config_load() returns the
 * error text and the list of warnings.
 */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "record.h"

#define CONFIG_DEFAULT_PATH "/etc/meta-fuse/meta-fuse.conf"
#define CONFIG_ENV_PATH     "META_FUSE_CONFIG"

/* Exit statuses shared by every binary. */
#define EXIT_CONFIG   1  /* bad configuration or usage: permanent, do not restart */
#define EXIT_TEMPFAIL 75 /* a runtime failure that a restart may cure (EX_TEMPFAIL) */

enum config_origin {
	CONFIG_ORIGIN_DEFAULT,
	CONFIG_ORIGIN_FILE,
	CONFIG_ORIGIN_ENV,
	CONFIG_ORIGIN_MAX,
};

struct config_listen {
	char *host; /* "0.0.0.0", "::", "127.0.0.1" */
	uint16_t port;
};

struct config_program {
	char *name;
	char **argv; /* NULL-terminated */
	/* Optional settings of a supervised program. */
	char *user;               /* a name or a number; NULL: the readers' uid/gid */
	char **env;               /* "NAME=value" strings, NULL-terminated; NULL: none */
	bool autorestart;         /* restart it when it exits (default true) */
	uint32_t stop_timeout_ms; /* SIGKILL this long after SIGTERM (default 10000) */
	/* Workers or programs that must be running first, NULL-terminated; NULL: none. */
	char **start_after;
	uint32_t start_delay_ms; /* then this long before it starts (default 0) */
};

struct rules;

/* Room for the key table of config.c (checked there at compile time). */
#define CONFIG_KEYS_MAX 64

/* Owner: the caller of config_load(); config_free() releases everything. */
struct config {
	char *path; /* the file loaded, NULL when none */

	char *runtime_dir;
	char *state_dir; /* kvwatch's copy of the last published snapshot (warm start) */
	uid_t uid;       /* the readers' user; the file may name it ("jellyfin") */
	gid_t gid;
	char *files_volume;
	char *source_webdav_url; /* "" = read local files */

	struct {
		char *meta_core_path;
		char *redis_url; /* "" = discover the leader */
		char *prefix;
		char *separator;
		uint32_t refresh_interval_ms;
		uint32_t debounce_ms;            /* coalesce a burst of pub/sub changes */
		uint32_t hold_threshold_percent; /* a removal of more than this share is held */
		uint32_t hold_time_ms;           /* ... until it has persisted this long */
		uint32_t connect_timeout_ms;
		uint32_t command_timeout_ms;
		uint32_t resync_cpu_percent; /* periodic resyncs: at most this share of time */
		bool measure_sizes;          /* files show their source's size, measured */
	} kv;

	struct {
		bool enabled;
		char *mount_point;
		mode_t file_mode;
		mode_t dir_mode;
		bool allow_other;
		uint32_t attr_ttl_ms;
		uint32_t dir_ttl_ms;
		uint32_t read_ahead_kb;
	} fuse;

	struct {
		bool enabled;
		struct config_listen listen;
		char *base_path;
		char *username;
		char *password; /* plain or crypt(3) hash */
		bool readonly;
		char *tls_cert; /* PEM files; "" = plain HTTP */
		char *tls_key;
		uint32_t max_connections;
		uint32_t max_connections_per_address;
		uint32_t idle_timeout_s;
		uint32_t threads;
	} webdav;

	struct {
		bool enabled;
		struct config_listen listen;
		char *username;     /* Basic auth; "" = no authentication (the default) */
		char *password;     /* plain or crypt(3) hash */
		char *cors_origins; /* "" = no CORS, "*", or a comma-separated list of origins */
	} api;

	struct {
		char *on_change; /* command run after the tree changed; "" = none */
		uint32_t debounce_ms;
	} hooks;

	char *rules_file;     /* NULL when the rules are inline or the defaults */
	struct rules *rules;  /* compiled; never NULL after a successful load */
	struct schema schema; /* properties the rules and the core need */
	/*
	 * A hash of the rules' source (the rules file's bytes, the inline list's
	 * settings, or 0 for the built-in ones): equal fingerprints, equal rules.
	 */
	uint64_t rules_fingerprint;

	struct config_program *programs;
	size_t program_count;

	/*
	 * The user kvwatch runs as under the supervisor: a name or a number.  Kept as
	 * text: only the supervisor needs it resolved, and it refuses a name that
	 * does not resolve (a worker's config_load() must not fail on it).
	 */
	char *writer_user;

	/* Warnings found while loading (unknown keys, ignored variables), for the caller to log. */
	char **warnings;
	size_t warning_count;

	/*
	 * Private to config.c: where each key of its table came from, and which of
	 * its variables were used (bit 0: the key's variable, bit 1: its port one).
	 */
	unsigned char origin_[CONFIG_KEYS_MAX];
	unsigned char env_used_[CONFIG_KEYS_MAX];
	unsigned char rules_origin_;
	unsigned char programs_origin_;
};

/*
 * Load path (NULL: $META_FUSE_CONFIG, else CONFIG_DEFAULT_PATH; a missing default
 * file means "all defaults", a missing named file is an error), apply the
 * environment (an empty variable counts as unset), validate, compile the rules
 * against cfg->schema.  On error returns -errno (-EINVAL for a bad value) and a
 * one-line message in err ("/etc/x.conf:12: syntax error", "fuse.file_mode:
 * \"8x4\" is not an octal mode").
 */
int config_load(const char *path, struct config **ret, char *err, size_t errlen);
void config_free(struct config *cfg);

/* The path config_load(NULL) would read. */
const char *config_default_path(void);

/*
 * Print the effective configuration, one `key = value  # origin` line per key,
 * secrets masked (check-config).
 */
void config_print(const struct config *cfg, FILE *out);

/*
 * Write "host:port" ("[::]:8080" for IPv6) into buf; returns the length or -ENOSPC
 * (buf is then truncated).
 */
int config_listen_format(const struct config_listen *listen, char *buf, size_t buflen);

/*
 * Where a key's value came from ("fuse.mount_point"; also "rules", "rules_file" and
 * "programs"); CONFIG_ORIGIN_MAX if the key is unknown.
 */
enum config_origin config_origin_of(const struct config *cfg, const char *key);

/*
 * Is name an environment variable the configuration reads (PUID, REDIS_URL,
 * META_FUSE_CONFIG...)?  The supervisor passes exactly these on to its workers.
 */
bool config_is_env_var(const char *name);

#endif
