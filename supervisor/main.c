/*
 * meta-fuse: the suite's command-line entry point.  Subcommands are data: one
 * table names each with its handler and a one-line help: the supervisor itself
 * (`run`, run.c), its control commands (ctl.c), the demo (demo.c) and the
 * inspection tools (check-config, dump).
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
    {"run", cmd_run, "[-c FILE]  run the suite in the foreground (the supervisor)"},
    {"status", cmd_ctl, "[--json]  every worker's state, the snapshot's figures"},
    {"restart", cmd_ctl, "NAME  restart one worker (also a FATAL or FAILED one)"},
    {"reload", cmd_ctl, "  read the configuration again; restart what changed"},
    {"refresh", cmd_ctl, "  ask kvwatch for a full resync with the store"},
    {"confirm-removals", cmd_ctl, "  apply a mass removal kvwatch holds back"},
    {"stop", cmd_ctl, "  stop the supervisor and every worker"},
    {"demo", cmd_demo, "  the whole suite on the bundled sample library, until Ctrl-C"},
    {"check-config", cmd_check_config, "[-c FILE]  print the effective configuration"},
    {"dump", cmd_dump,
     "[-c FILE | --runtime-dir DIR | SNAPSHOT]  print the snapshot as JSON lines"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: meta-fuse COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-17s %s\n", commands[i].name, commands[i].help);
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
