/*
 * commands: the subcommands of the meta-fuse binary.  Each takes the arguments
 * after its name (argv[0] is the subcommand) and returns the exit status.
 */
#ifndef MF_COMMANDS_H
#define MF_COMMANDS_H

int cmd_check_config(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_demo(int argc, char **argv);

#endif
