/*
 * mountinfo: what /proc/self/mountinfo says is mounted at a path.  One reader
 * for fused (is its mount point free, stale or its own; the bdi of its mount)
 * and the supervisor (which mounts to detach; the bdi it hands to fused).
 * Mount points there are octal-escaped ("\040" for a space): they are compared
 * unescaped, so a mount point with a space is found.
 */
#ifndef MF_MOUNTINFO_H
#define MF_MOUNTINFO_H

#include <stddef.h>

/* Unescape a mountinfo field ("\040" -> ' ') in place. */
void mountinfo_unescape(char *s);

/*
 * The topmost mount at real_path (a path without symlinks): its device
 * "major:minor" into dev and its file system type into fstype (either may be
 * NULL).  Returns 0, -ENOENT when nothing is mounted there, or -errno.
 */
int mountinfo_find(const char *real_path, char *dev, size_t devlen, char *fstype, size_t fslen);

#endif
