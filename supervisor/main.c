/*
 * meta-fuse: the suite's command-line entry point.  Subcommands are data: one
 * table names each with its handler and a one-line help.  The supervisor itself
 * (`run`) and its control commands arrive with the supervisor; until then the
 * workers run alone (meta-fuse-kvwatch, meta-fuse-fused).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "log.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
    {"check-config", cmd_check_config, "[-c FILE]  print the effective configuration"},
    {"dump", cmd_dump,
     "[-c FILE | --runtime-dir DIR | SNAPSHOT]  print the snapshot as JSON lines"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: meta-fuse COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\nSee meta-fuse(1).\n");
}

int main(int argc, char **argv)
{
	log_init("meta-fuse", 0);
	if (argc < 2) {
		usage(stderr);
		return EXIT_CONFIG;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "meta-fuse: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EXIT_CONFIG;
}
