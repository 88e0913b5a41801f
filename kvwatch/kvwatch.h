/*
 * kvwatch: the worker that follows Redis and writes the tree (docs/kvwatch.md).
 *
 * kvwatch_main() is the entry point of meta-fuse-kvwatch: options, the
 * configuration, then either one full load (--once) or the event loop:
 * leader discovery, the connections, full loads on a thread of their own,
 * live updates, the hold-back guard, publishing and the change hook.
 */
#ifndef MF_KVWATCH_KVWATCH_H
#define MF_KVWATCH_KVWATCH_H

struct config;

int kvwatch_main(int argc, char **argv);

/*
 * The two modes, for kvwatch_main() (and tests).  Return an exit status.
 * kvwatch_run() takes ownership of cfg: a reload (SIGHUP) replaces it, and it
 * frees whichever is current when it returns.  config_path is what -c named
 * (NULL: the default), read again on SIGHUP.
 */
int kvwatch_once(const struct config *cfg);
int kvwatch_run(struct config *cfg, const char *config_path);

#endif
