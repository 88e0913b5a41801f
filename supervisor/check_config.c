/*
 * check_config: `meta-fuse check-config [-c FILE] [-v|-q]`.
 *
 * Loads the configuration exactly as every worker does (file, then environment),
 * prints the warnings to stderr and the effective configuration to stdout, one
 * `key = value  # origin` line per key with secrets masked.  A configuration that
 * a worker would refuse gives one line `meta-fuse: <message>` on stderr and exit
 * status 1 (EXIT_CONFIG), so `check-config` can gate a deployment or a reload.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "log.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: meta-fuse check-config [-c FILE] [-v | -q]\n"
	        "\n"
	        "Load the configuration the way every worker does and print the effective\n"
	        "value of each key with where it came from (default, file or env).\n"
	        "\n"
	        "  -c, --config FILE  the file to check (default: $%s, else %s)\n"
	        "  -q, --quiet        print nothing but warnings and errors\n"
	        "  -v, --verbose      more log output\n"
	        "  -h, --help         this text\n"
	        "\n"
	        "Exit status: 0 valid, %d invalid (the message says where and why).\n",
	        CONFIG_ENV_PATH, CONFIG_DEFAULT_PATH, EXIT_CONFIG);
}

int cmd_check_config(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	struct config *cfg;
	char err[1024];
	int c, verbosity = 0;
	bool quiet = false;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'q':
			quiet = true;
			verbosity--;
			break;
		case 'v':
			verbosity++;
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
		fprintf(stderr, "meta-fuse: check-config: unexpected argument \"%s\"\n",
		        argv[optind]);
		usage(stderr);
		return EXIT_CONFIG;
	}
	/* Quiet still shows warnings: they are what a check is for. */
	log_set_verbosity(verbosity < -1 ? -1 : verbosity);

	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		/* One line, whatever the message holds. */
		for (char *p = err; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		fprintf(stderr, "meta-fuse: %s\n", err);
		return EXIT_CONFIG;
	}
	for (size_t i = 0; i < cfg->warning_count; i++)
		log_warnx("%s", cfg->warnings[i]);
	if (!quiet)
		config_print(cfg, stdout);
	config_free(cfg);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "meta-fuse: check-config: cannot write the output\n");
		return EXIT_TEMPFAIL;
	}
	return 0;
}
