/*
 * demo: `meta-fuse demo` (written below).
 */
#include <stdio.h>

#include "commands.h"
#include "config.h"

int cmd_demo(int argc, char **argv)
{
	fprintf(stderr, "meta-fuse: demo: not yet\n");
	return EXIT_CONFIG;
}
