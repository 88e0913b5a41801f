/*
 * guard: SIGBUS and identity checks on the published file kvwatch maps back
 * (see guard.h).
 */
#include "guard.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *volatile g_base;
static volatile size_t g_len;
static atomic_bool g_damaged;
static char g_path[PATH_MAX];
static struct stat g_st;

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	const char *addr = si->si_addr, *base = g_base;
	size_t len = g_len, page = (size_t)sysconf(_SC_PAGESIZE);

	if (base != NULL && addr >= base && addr < base + len) {
		/* From the faulting page to the end: zero pages, read-only as before. */
		const char *from = (const char *)((uintptr_t)addr & ~(uintptr_t)(page - 1));

		if (mmap((void *)from, (size_t)(base + len - from), PROT_READ,
		         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
			atomic_store(&g_damaged, true);
			return;
		}
	}
	/* Not ours, or beyond repair: the default action. */
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

int guard_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

void guard_set(const void *base, size_t len, const char *path)
{
	g_base = NULL;
	g_len = len;
	g_base = base;
	atomic_store(&g_damaged, false);
	g_path[0] = '\0';
	if (base != NULL && path != NULL && stat(path, &g_st) == 0)
		snprintf(g_path, sizeof(g_path), "%s", path);
}

bool guard_damaged(void)
{
	struct stat st;

	if (atomic_load(&g_damaged))
		return true;
	if (g_base == NULL || g_path[0] == '\0' || stat(g_path, &st) < 0)
		return false;
	/* Replaced by a rename: our mapping is of the old file, intact. */
	if (st.st_ino != g_st.st_ino || st.st_dev != g_st.st_dev)
		return false;
	return st.st_size != g_st.st_size || st.st_mtim.tv_sec != g_st.st_mtim.tv_sec ||
	       st.st_mtim.tv_nsec != g_st.st_mtim.tv_nsec;
}
