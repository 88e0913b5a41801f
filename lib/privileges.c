/*
 * privileges: see privileges.h.
 */
#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"

int privileges_drop(uid_t uid, gid_t gid)
{
	if (geteuid() != 0 || (uid == 0 && gid == 0))
		return 0;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	if (uid != 0 && (setresuid(0, 0, 0) == 0 || geteuid() == 0))
		fatalx("privileges still held after dropping them to uid %u", (unsigned)uid);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
