/*
 * privileges: a worker started as root becomes the configured service user,
 * for good.  The supervisor (or systemd) hands it whatever needed root first
 * (sockets, the FUSE descriptor); after this call root cannot come back.
 */
#ifndef MF_PRIVILEGES_H
#define MF_PRIVILEGES_H

#include <sys/types.h>

/*
 * As root: setgroups, setresgid, setresuid to uid/gid, verify that root cannot
 * be regained (fatal if it can: a broken invariant), PR_SET_NO_NEW_PRIVS.
 * uid 0 and gid 0 keep root (tests); not root: nothing to do.  Returns 0 or
 * -errno of the call that failed.
 */
int privileges_drop(uid_t uid, gid_t gid);

#endif
