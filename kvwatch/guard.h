/*
 * guard: kvwatch survives its published file being cut or rewritten under it.
 *
 * After each publish kvwatch maps the new vfs.snapshot back: the record set
 * points into it instead of keeping copies (store.h).  Someone truncating that
 * file (`truncate -s 4096 vfs.snapshot`) would make the next read of a page
 * past the new end raise SIGBUS; someone rewriting it in place (`cp other
 * vfs.snapshot`) would make the record set read bytes that are not what was
 * published.  The file is published read-only (0444), which stops the careless
 * but not root.  So:
 *
 *   - guard_install() catches SIGBUS on the mapping guard_set() names: the
 *     faulting pages are replaced by zero pages (so the read completes, with
 *     nonsense but no crash) and the mapping is marked damaged;
 *   - guard_check() also compares the file's identity (inode, size, mtime)
 *     with what was published, to notice a rewrite that does not shrink.
 *
 * kvwatch checks guard_damaged() after every publish and before each use of
 * the record set; when damaged, it drops the record set and loads everything
 * again from Redis (one log line).  A SIGBUS anywhere else keeps its default
 * action.
 */
#ifndef MF_KVWATCH_GUARD_H
#define MF_KVWATCH_GUARD_H

#include <stdbool.h>
#include <stddef.h>

int guard_install(void);
/* The mapping to watch (NULL: none) and the file it maps (path copied). */
void guard_set(const void *base, size_t len, const char *path);
/* Has the mapping been damaged since guard_set()?  Also stats the file. */
bool guard_damaged(void);

#endif
