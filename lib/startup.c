/*
 * startup: options, log and configuration of every program's start
 * (see startup.h).
 */
#include "startup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#define SHORTOPTS_MAX 32
#define LONGOPTS_MAX  16

static const struct option common_longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
};
#define COMMON_LONGOPTS (sizeof(common_longopts) / sizeof(common_longopts[0]))

/* The common options and the program's in one getopt_long() table; -EINVAL if too many. */
static int merge_options(const struct startup *s, char shortopts[SHORTOPTS_MAX],
                         struct option longopts[LONGOPTS_MAX + 1])
{
	size_t n = COMMON_LONGOPTS;
	int len;

	len = snprintf(shortopts, SHORTOPTS_MAX, "c:vqh%s", s->shortopts ? s->shortopts : "");
	if (len < 0 || len >= SHORTOPTS_MAX)
		return -EINVAL;
	memcpy(longopts, common_longopts, sizeof(common_longopts));
	for (const struct option *o = s->longopts; o && o->name; o++) {
		if (n >= LONGOPTS_MAX)
			return -EINVAL;
		longopts[n++] = *o;
	}
	longopts[n] = (struct option){0};
	return 0;
}

int startup(const struct startup *s, int argc, char **argv, struct config **ret_cfg,
            const char **ret_path)
{
	char shortopts[SHORTOPTS_MAX], err[1024];
	struct option longopts[LONGOPTS_MAX + 1];
	const char *path = NULL;
	struct config *cfg;
	int opt, verbosity = 0;

	log_init(s->name, 0);
	if (merge_options(s, shortopts, longopts) < 0)
		fatalx("startup: too many options"); /* a broken table, not bad usage */
	optind = 0; /* glibc: start afresh, also in the middle of an earlier option cluster */
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'v':
			verbosity++;
			break;
		case 'q':
			verbosity--;
			break;
		case 'h':
			s->usage(stdout);
			return 0;
		case '?':
		case ':':
			s->usage(stderr);
			return EXIT_CONFIG;
		default:
			if (!s->option || s->option(opt, optarg, s->userdata) < 0)
				return EXIT_CONFIG;
			break;
		}
	}
	if (optind < argc) {
		log_errorx("unexpected argument \"%s\"", argv[optind]);
		s->usage(stderr);
		return EXIT_CONFIG;
	}
	log_set_verbosity(verbosity);

	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		return EXIT_CONFIG;
	}
	for (size_t i = 0; i < cfg->warning_count; i++)
		log_warnx("%s", cfg->warnings[i]);
	*ret_cfg = cfg;
	if (ret_path)
		*ret_path = path;
	return STARTUP_RUN;
}
