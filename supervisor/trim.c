/*
 * trim: hand back the page-table entries of what the supervisor touched only
 * while it started.
 *
 * Starting a worker runs a lot of code once (configuration parsing, the
 * privilege drop, libsystemd's set-up) and the kernel maps file pages around
 * each fault (64 KiB at a time), so the resident set of an idle supervisor was
 * mostly pages of libc, libsystemd and its dependencies that the loop never
 * touches again: 3.4 of 4.1 MB.  Once every worker is ready, each read-only
 * file mapping that holds no private copy of a page (no "Anonymous" page in
 * /proc/self/smaps: code and constant data, never relocated or written data)
 * is told MADV_DONTNEED: its pages stay in the page cache, shared with every
 * other process, and come back by a minor fault when the supervisor uses them
 * again.  Nothing writable and nothing anonymous is touched, so no byte of
 * state can be lost.  What this does not do: it frees no memory of the
 * machine (the page cache keeps the pages); it only stops counting them as the
 * supervisor's.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "supervisor.h"

#define TRIM_RANGES_MAX 256

void trim_pages(void)
{
	struct {
		uintptr_t start, end;
	} ranges[TRIM_RANGES_MAX];
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512], perms[8], path[256];
	size_t n = 0;
	bool candidate = false;

	if (!f)
		return;
	/* First the list, then the calls: stdio must not fault libc back in meanwhile. */
	while (fgets(line, sizeof(line), f) && n < TRIM_RANGES_MAX) {
		unsigned long a, b, anon;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &a, &b, perms, path) == 4) {
			ranges[n].start = a;
			ranges[n].end = b;
			candidate = path[0] == '/' && perms[1] != 'w';
			continue;
		}
		if (candidate && sscanf(line, "Anonymous: %lu kB", &anon) == 1) {
			candidate = false;
			if (anon == 0)
				n++;
		}
	}
	fclose(f);
	log_debug("trimming %zu read-only file mappings", n); /* no stdio after this */
	for (size_t i = 0; i < n; i++)
		(void)madvise((void *)ranges[i].start, ranges[i].end - ranges[i].start,
		              MADV_DONTNEED);
}
