/*
 * spare: a snapshot file prepared on a thread (see spare.h).
 */
#include "spare.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "snapshot.h"
#include "snapshot_writer.h"

struct spare {
	pthread_t thread;
	char dir[PATH_MAX];
	uint64_t size;
	struct snapshot_file *file;
	int result;
	atomic_bool ready;
};

static void *spare_main(void *arg)
{
	struct spare *sp = arg;

	sp->result = snapshot_prepare(sp->dir, SNAP_FILE_NAME, sp->size, &sp->file);
	atomic_store(&sp->ready, true);
	return NULL;
}

struct spare *spare_prepare(const char *dir, uint64_t size)
{
	struct spare *sp = calloc(1, sizeof(*sp));

	if (sp == NULL)
		return NULL;
	if ((size_t)snprintf(sp->dir, sizeof(sp->dir), "%s", dir) >= sizeof(sp->dir)) {
		free(sp);
		return NULL;
	}
	sp->size = size;
	atomic_init(&sp->ready, false);
	if (pthread_create(&sp->thread, NULL, spare_main, sp) != 0) {
		free(sp);
		return NULL;
	}
	return sp;
}

struct snapshot_file *spare_wait(struct spare *sp)
{
	struct snapshot_file *f;

	if (sp == NULL)
		return NULL;
	pthread_join(sp->thread, NULL);
	f = sp->result == 0 ? sp->file : NULL;
	free(sp);
	return f;
}

bool spare_is_ready(struct spare *sp)
{
	return sp != NULL && atomic_load(&sp->ready);
}
