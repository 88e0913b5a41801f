/*
 * fetch: the live changes' fetch on a thread (see fetch.h).
 */
#include "fetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "store.h"
#include "updates.h"

struct fetch {
	pthread_t thread;
	int efd;
	sd_event_source *io;
	redisContext *c;
	struct key_layout layout;
	char prefix[KEYS_PREFIX_MAX + 1];
	char sep[KEYS_PREFIX_MAX + 1];
	struct schema schema;
	struct batch_change *changes;
	size_t n;
	fetch_done_fn done;
	void *userdata;
	bool abandoned;
	/* Written by the thread, read after the eventfd. */
	int result;
	struct store *fetched;
	struct load_stats stats;
	char err[256];
};

static void *fetch_main(void *arg)
{
	struct fetch *f = arg;
	uint64_t one = 1;

	f->result = updates_fetch(f->c, &f->layout, &f->schema, f->changes, f->n, &f->fetched,
	                          &f->stats, f->err, sizeof(f->err));
	if (write(f->efd, &one, sizeof(one)) < 0)
		abort(); /* an eventfd write of 1 cannot fail */
	return NULL;
}

static void release(struct fetch *f)
{
	sd_event_source_disable_unref(f->io);
	if (f->efd >= 0)
		close(f->efd);
	if (f->c != NULL)
		redisFree(f->c);
	store_free(f->fetched);
	schema_free(&f->schema);
	free(f->changes);
	free(f);
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct fetch *f = userdata;

	pthread_join(f->thread, NULL);
	f->io = sd_event_source_disable_unref(f->io);
	if (f->abandoned) {
		if (f->c != NULL)
			redisFree(f->c); /* its owner is gone; fetch_free() does the rest */
		f->c = NULL;
		return 0;
	}
	if (f->result < 0 && f->c != NULL) {
		redisFree(f->c); /* broken: the caller reconnects */
		f->c = NULL;
	}
	f->done(f->userdata, f);
	return 0;
}

static int copy_schema(struct schema *dst, const struct schema *src)
{
	int r = schema_init(dst);

	for (uint32_t i = 0; r >= 0 && i < src->count; i++)
		r = schema_intern(dst, src->names[i], strlen(src->names[i]));
	return r < 0 ? r : 0;
}

int fetch_start(sd_event *event, redisContext *c, const struct key_layout *layout,
                const struct schema *schema, struct batch_change *changes, size_t n,
                fetch_done_fn done, void *userdata, struct fetch **ret)
{
	struct fetch *f = calloc(1, sizeof(*f));
	int r;

	if (f == NULL)
		return -ENOMEM;
	f->efd = -1;
	/* The layout points at the configuration's strings: keep copies. */
	if (layout->prefix_len >= sizeof(f->prefix) || layout->sep_len >= sizeof(f->sep)) {
		free(f);
		return -EINVAL;
	}
	memcpy(f->prefix, layout->prefix, layout->prefix_len);
	memcpy(f->sep, layout->sep, layout->sep_len);
	r = keys_init(&f->layout, f->prefix, f->sep);
	if (r == 0)
		r = copy_schema(&f->schema, schema);
	if (r == 0) {
		f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = f->efd < 0 ? -errno : 0;
	}
	if (r == 0)
		r = sd_event_add_io(event, &f->io, f->efd, EPOLLIN, on_done, f);
	if (r == 0) {
		f->c = c;
		f->changes = changes;
		f->n = n;
		f->done = done;
		f->userdata = userdata;
		r = -pthread_create(&f->thread, NULL, fetch_main, f);
	}
	if (r < 0) {
		f->c = NULL;
		f->changes = NULL;
		release(f);
		return r;
	}
	*ret = f;
	return 0;
}

int fetch_result(struct fetch *f, struct store **ret_fetched,
                 const struct batch_change **ret_changes, size_t *ret_n,
                 struct load_stats *ret_stats, const char **ret_err)
{
	*ret_fetched = f->fetched;
	*ret_changes = f->changes;
	*ret_n = f->n;
	*ret_stats = f->stats;
	*ret_err = f->err;
	return f->result;
}

redisContext *fetch_take_connection(struct fetch *f)
{
	redisContext *c = f->c;

	f->c = NULL;
	return c;
}

const struct schema *fetch_schema(const struct fetch *f)
{
	return &f->schema;
}

void fetch_free(struct fetch *f)
{
	if (f == NULL)
		return;
	if (f->io != NULL) /* still running: at exit */
		pthread_join(f->thread, NULL);
	release(f);
}

void fetch_abandon(struct fetch *f)
{
	if (f != NULL)
		f->abandoned = true;
}
