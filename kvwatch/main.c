/*
 * meta-fuse-kvwatch: the command line of the Redis follower.  Parses the
 * options, loads the configuration and runs kvwatch_once() or kvwatch_run().
 *
 * Exit status: 0 stopped by SIGTERM/SIGINT or --once done; 1 (EXIT_CONFIG) bad
 * usage or configuration, or --once could not reach Redis; 75 (EXIT_TEMPFAIL) a
 * runtime failure a restart may cure (runtime_dir unusable, event loop).
 */
#include <getopt.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "kvwatch.h"
#include "log.h"

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

int kvwatch_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},        {"once", no_argument, NULL, 'O'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	struct config *cfg = NULL;
	bool once = false;
	int verbosity = 0, c, r;
	char err[1024];

	log_init("kvwatch", 0);
	while ((c = getopt_long(argc, argv, "c:vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'v':
			verbosity++;
			break;
		case 'q':
			verbosity--;
			break;
		case 'O':
			once = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meta-fuse-kvwatch: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return EXIT_CONFIG;
	}
	log_set_verbosity(verbosity);
	r = config_load(path, &cfg, err, sizeof(err));
	if (r < 0) {
		log_errorx("%s", err);
		return EXIT_CONFIG;
	}
	for (size_t i = 0; i < cfg->warning_count; i++)
		log_warnx("%s", cfg->warnings[i]);
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
