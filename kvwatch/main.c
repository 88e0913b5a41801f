/*
 * meta-fuse-kvwatch: the command line of the Redis follower.  Parses the
 * options, loads the configuration and runs kvwatch_once() or kvwatch_run().
 *
 * Exit status: 0 stopped by SIGTERM/SIGINT or --once done; 1 (EXIT_CONFIG) bad
 * usage or configuration, or --once could not reach Redis; 75 (EXIT_TEMPFAIL) a
 * runtime failure a restart may cure (runtime_dir unusable, event loop).
 */
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "kvwatch.h"
#include "log.h"
#include "startup.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: meta-fuse-kvwatch [-c FILE] [-v | -q] [--once]\n"
	             "\n"
	             "  -c, --config FILE  configuration (default $" CONFIG_ENV_PATH
	             ", else " CONFIG_DEFAULT_PATH ")\n"
	             "  -v, --verbose      more log output (repeat for debug)\n"
	             "  -q, --quiet        less log output\n"
	             "      --once         load everything, publish one snapshot, exit\n"
	             "  -h, --help         this text\n"
	             "\n"
	             "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the configuration, SIGUSR1\n"
	             "confirms a held-back large removal, SIGUSR2 asks for a full resync.\n"
	             "See meta-fuse-kvwatch(1).\n");
}

/* --once */
static int kvwatch_option(int opt, const char *arg, void *userdata)
{
	bool *once = userdata;

	(void)arg;
	if (opt != 'O')
		return -EINVAL;
	*once = true;
	return 0;
}

int kvwatch_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"once", no_argument, NULL, 'O'},
	    {NULL, 0, NULL, 0},
	};
	bool once = false;
	const struct startup start = {.name = "kvwatch",
	                              .usage = usage,
	                              .longopts = opts,
	                              .option = kvwatch_option,
	                              .userdata = &once};
	const char *path = NULL;
	struct config *cfg = NULL;
	int r;

	r = startup(&start, argc, argv, &cfg, &path);
	if (r != STARTUP_RUN)
		return r;
	/*
	 * Large blocks (record arrays, trees, arenas) come from mmap and go back to
	 * the system when freed; a fixed threshold keeps glibc from raising it.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (!once)
		return kvwatch_run(cfg, path); /* owns cfg from here */
	r = kvwatch_once(cfg);
	config_free(cfg);
	return r;
}

int main(int argc, char **argv)
{
	return kvwatch_main(argc, argv);
}
