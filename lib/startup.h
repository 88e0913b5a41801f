/*
 * startup: the first lines of every program's main().  davd, apid, fused,
 * kvwatch and the supervisor's `run` all take -c FILE, -v, -q and -h, set up
 * the log, load the configuration and log its error once or each of its
 * warnings; this does that once.  What a program adds (its own options, its
 * usage text) comes in struct startup.  It does not act on the configuration
 * (enabled keys, sockets, privileges): that stays in each main().
 */
#ifndef MF_STARTUP_H
#define MF_STARTUP_H

#include <getopt.h>
#include <stdio.h>

struct config;

/* What startup() returns when the program goes on (any other value is an exit status). */
#define STARTUP_RUN (-1)

struct startup {
	const char *name;              /* the log prefix: "davd" */
	void (*usage)(FILE *out);      /* the program's help text */
	const char *shortopts;         /* its own short options besides "c:vqh"; NULL: none */
	const struct option *longopts; /* its own long options, {0}-terminated; NULL: none */
	/*
	 * Called for each of its own options (getopt's value and optarg); 0, or
	 * -EINVAL after logging why (usage error: exit 1).  May be NULL.
	 */
	int (*option)(int opt, const char *arg, void *userdata);
	void *userdata;
};

/*
 * Parse argv (from argv[1]; getopt starts afresh), log_init(s->name) with the
 * verbosity -v and -q ask for, load the configuration named by -c (NULL: the
 * default, config_load()) and log each of its warnings.  Returns STARTUP_RUN
 * with *ret_cfg (owned by the caller) and *ret_path (the -c argument or NULL;
 * ret_path may be NULL), or the status main() exits with at once: 0 after
 * --help, EXIT_CONFIG after bad usage or configuration, which it has logged
 * (and the usage text on stderr).
 */
int startup(const struct startup *s, int argc, char **argv, struct config **ret_cfg,
            const char **ret_path);

#endif
