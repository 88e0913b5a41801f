/*
 * webdav_source: HTTP Range reads with libcurl (see webdav_source.h).
 *
 * One easy handle per open file, guarded by the file's mutex; a CURLSH shared by
 * all of them holds the connection and DNS caches (its lock callbacks use one
 * mutex per curl_lock_data).  The read-ahead window is a plain buffer holding
 * [win_off, win_off + win_len) of the file: a read inside it is a memcpy; a read
 * outside it fetches a new window starting at the read's offset, as large as
 * the read or, when the read continues the previous one, the doubled window.
 *
 * libcurl is not linked: the first webdav_new() loads it with dlopen() and runs
 * cu.global_init().  A process that has no source_webdav_url (the default)
 * thus never maps libcurl and the twenty-odd libraries it pulls in (Kerberos,
 * LDAP, SSH, OpenSSL's libcrypto, ...): about 3 MB of every reader's RSS.
 */
#include "webdav_source.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct webdav {
	char *base; /* without a trailing '/' */
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	long connect_ms;
	long stall_ms;
};

struct webdav_file {
	struct webdav *w;
	pthread_mutex_t lock;
	CURL *curl;
	char *url;
	uint64_t size; /* from HEAD; 0 = unknown */

	unsigned char *win;
	size_t win_cap;
	off_t win_off;
	size_t win_len;
	off_t next_off; /* where a sequential read would continue */
	size_t ahead;   /* current read-ahead size */
	/* After a failed transfer, reads fail at once for a while instead of each
	 * waiting out its own timeout (the kernel retries a failed read-ahead). */
	int64_t failed_until_ms;
};

#define WEBDAV_FAIL_HOLD_MS 5000

/* The libcurl functions used here, from the library loaded at the first webdav_new(). */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *c);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	CURLSH *(*share_init)(void);
	CURLSHcode (*share_cleanup)(CURLSH *sh);
	CURLSHcode (*share_setopt)(CURLSH *sh, CURLSHoption opt, ...);
} cu;
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;
static int cu_status = -ELIBACC;

/*
 * The flavour built against first (Debian: libcurl-gnutls), then the other one:
 * both have the same ABI (soname 4).
 */
static const char *const curl_sonames[] = {"libcurl-gnutls.so.4", "libcurl.so.4"};

static void curl_load(void)
{
	void *h = NULL;

	for (size_t i = 0; !h && i < sizeof(curl_sonames) / sizeof(curl_sonames[0]); i++)
		h = dlopen(curl_sonames[i], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
#define SYM(field, name)                              \
	do {                                          \
		*(void **)&cu.field = dlsym(h, name); \
		if (!cu.field)                        \
			return;                       \
	} while (0)
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(share_init, "curl_share_init");
	SYM(share_cleanup, "curl_share_cleanup");
	SYM(share_setopt, "curl_share_setopt");
#undef SYM
	/* Kept loaded for the life of the process (its globals are initialised once). */
	cu_status = cu.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a, void *ctx)
{
	struct webdav *w = ctx;

	pthread_mutex_lock(&w->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	struct webdav *w = ctx;

	pthread_mutex_unlock(&w->locks[data]);
}

int webdav_new(const char *base_url, struct webdav **ret)
{
	struct webdav *w = calloc(1, sizeof(*w));
	size_t len;

	pthread_once(&cu_once, curl_load);
	if (cu_status < 0) {
		free(w);
		return cu_status;
	}
	if (!w)
		return -ENOMEM;
	w->base = strdup(base_url);
	if (!w->base) {
		free(w);
		return -ENOMEM;
	}
	len = strlen(w->base);
	while (len > 0 && w->base[len - 1] == '/')
		w->base[--len] = '\0';
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&w->locks[i], NULL);
	w->connect_ms = 5000;
	w->stall_ms = 15000;
	w->share = cu.share_init();
	if (!w->share) {
		webdav_free(w);
		return -ENOMEM;
	}
	cu.share_setopt(w->share, CURLSHOPT_LOCKFUNC, share_lock);
	cu.share_setopt(w->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	cu.share_setopt(w->share, CURLSHOPT_USERDATA, w);
	cu.share_setopt(w->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	cu.share_setopt(w->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	*ret = w;
	return 0;
}

void webdav_free(struct webdav *w)
{
	if (!w)
		return;
	if (w->share)
		cu.share_cleanup(w->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&w->locks[i]);
	free(w->base);
	free(w);
}

void webdav_set_timeouts(struct webdav *w, long connect_ms, long stall_ms)
{
	w->connect_ms = connect_ms;
	w->stall_ms = stall_ms;
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

char *webdav_url(const struct webdav *w, const char *rel)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t blen = strlen(w->base), rlen = strlen(rel);
	char *url = malloc(blen + 1 + rlen * 3 + 1), *p;

	if (!url)
		return NULL;
	memcpy(url, w->base, blen);
	p = url + blen;
	*p++ = '/';
	for (size_t i = 0; i < rlen; i++) {
		unsigned char c = (unsigned char)rel[i];

		if (is_unreserved(c)) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return url;
}

static void setup_handle(struct webdav_file *f)
{
	CURL *c = f->curl;

	cu.easy_setopt(c, CURLOPT_URL, f->url);
	cu.easy_setopt(c, CURLOPT_SHARE, f->w->share);
	cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, f->w->connect_ms);
	/* A transfer slower than 1 KiB/s for the stall time is abandoned. */
	cu.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	cu.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (f->w->stall_ms + 999) / 1000);
	cu.easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	cu.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	cu.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	cu.easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC | CURLAUTH_DIGEST);
	cu.easy_setopt(c, CURLOPT_USERAGENT, "meta-fuse");
}

static int status_errno(long status)
{
	if (status == 404 || status == 410)
		return -ENOENT;
	if (status == 401 || status == 403)
		return -EACCES;
	return -EIO;
}

int webdav_file_open(struct webdav *w, const char *rel, struct webdav_file **ret,
                     uint64_t *ret_size)
{
	struct webdav_file *f = calloc(1, sizeof(*f));
	curl_off_t len = -1;
	long status = 0;
	CURLcode cc;
	int r;

	if (!f)
		return -ENOMEM;
	f->w = w;
	pthread_mutex_init(&f->lock, NULL);
	f->ahead = WEBDAV_READAHEAD_MIN;
	f->url = webdav_url(w, rel);
	f->curl = cu.easy_init();
	if (!f->url || !f->curl) {
		r = -ENOMEM;
		goto fail;
	}
	setup_handle(f);
	cu.easy_setopt(f->curl, CURLOPT_NOBODY, 1L);
	cu.easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, f->w->connect_ms + f->w->stall_ms);
	cc = cu.easy_perform(f->curl);
	if (cc != CURLE_OK) {
		r = -EIO;
		goto fail;
	}
	cu.easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		r = status_errno(status);
		goto fail;
	}
	cu.easy_getinfo(f->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	f->size = len > 0 ? (uint64_t)len : 0;
	cu.easy_setopt(f->curl, CURLOPT_NOBODY, 0L);
	cu.easy_setopt(f->curl, CURLOPT_HTTPGET, 1L);
	cu.easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, 0L);
	*ret = f;
	if (ret_size)
		*ret_size = f->size;
	return 0;
fail:
	webdav_file_close(f);
	return r;
}

void webdav_file_close(struct webdav_file *f)
{
	if (!f)
		return;
	if (f->curl)
		cu.easy_cleanup(f->curl);
	pthread_mutex_destroy(&f->lock);
	free(f->url);
	free(f->win);
	free(f);
}

struct sink {
	unsigned char *buf;
	size_t cap;
	size_t len;
	char content_range[128]; /* the response's Content-Range value, "" when none */
};

/* Keeps the Content-Range of the response (curl hands headers one line at a time). */
static size_t sink_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct sink *s = ctx;
	size_t n = size * nmemb, vlen;
	const char *v;

	if (n > 14 && strncasecmp(data, "Content-Range:", 14) == 0) {
		v = data + 14;
		while (v < data + n && (*v == ' ' || *v == '\t'))
			v++;
		vlen = (size_t)(data + n - v);
		while (vlen > 0 &&
		       (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen >= sizeof(s->content_range))
			vlen = 0; /* too long to be right: checked as absent */
		memcpy(s->content_range, v, vlen);
		s->content_range[vlen] = '\0';
	} else if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		s->content_range[0] = '\0'; /* a new response (after a 100 Continue) */
	}
	return n;
}

/*
 * Whether a 206's Content-Range is the range asked for, [off, off + want): the
 * same first byte, and the same last byte unless the file ends before it; and
 * whether the body carried exactly that many bytes.
 */
bool webdav_range_matches(const char *content_range, uint64_t off, uint64_t want, uint64_t body_len)
{
	unsigned long long first, last, total;
	char star[2];
	int consumed = 0;

	if (sscanf(content_range, "bytes %llu-%llu/%llu%n", &first, &last, &total, &consumed) !=
	        3 ||
	    content_range[consumed] != '\0') {
		/* "bytes 0-9/ *" (an unknown total) is allowed as well. */
		if (sscanf(content_range, "bytes %llu-%llu/%1[*]%n", &first, &last, star,
		           &consumed) != 3 ||
		    content_range[consumed] != '\0')
			return false;
		total = UINT64_MAX;
	}
	if (first != off || last < first || last >= total)
		return false;
	if (last != off + want - 1 && !(last < off + want - 1 && last == total - 1))
		return false;
	return body_len == last - first + 1;
}

static size_t sink_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct sink *s = ctx;
	size_t n = size * nmemb;

	/* More than asked for (a server that ignored Range): stop the transfer. */
	if (n > s->cap - s->len)
		return 0;
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return n;
}

/* Fetch [off, off + want) into the window.  Called with f->lock held. */
static int fetch(struct webdav_file *f, off_t off, size_t want)
{
	struct sink s;
	char range[64];
	long status = 0;
	CURLcode cc;

	if (f->win_cap < want) {
		unsigned char *p = realloc(f->win, want);

		if (!p)
			return -ENOMEM;
		f->win = p;
		f->win_cap = want;
	}
	s = (struct sink){.buf = f->win, .cap = want};
	f->win_len = 0;
	snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, (uint64_t)off,
	         (uint64_t)off + want - 1);
	cu.easy_setopt(f->curl, CURLOPT_RANGE, range);
	cu.easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, sink_write);
	cu.easy_setopt(f->curl, CURLOPT_WRITEDATA, &s);
	cu.easy_setopt(f->curl, CURLOPT_HEADERFUNCTION, sink_header);
	cu.easy_setopt(f->curl, CURLOPT_HEADERDATA, &s);
	cc = cu.easy_perform(f->curl);
	cu.easy_setopt(f->curl, CURLOPT_HEADERFUNCTION, NULL);
	cu.easy_setopt(f->curl, CURLOPT_HEADERDATA, NULL);
	cu.easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 416) /* the range starts at or after the end */
		return 0;
	if (cc == CURLE_WRITE_ERROR && status == 200 && off == 0)
		cc = CURLE_OK; /* no Range support, but the start of the body is what we want */
	if (cc != CURLE_OK)
		return -EIO;
	if (status == 200 && off != 0)
		return -EIO; /* the server ignores Range: this is the wrong part */
	if (status != 206 && status != 200)
		return status_errno(status);
	/* A 206 for another range than the one asked would serve the wrong bytes. */
	if (status == 206 && !webdav_range_matches(s.content_range, (uint64_t)off, want, s.len))
		return -EIO;
	f->win_off = off;
	f->win_len = s.len;
	return 0;
}

ssize_t webdav_file_read(struct webdav_file *f, void *buf, size_t size, off_t off)
{
	ssize_t n;
	int r;

	if (size == 0 || off < 0)
		return 0;
	if (f->size && (uint64_t)off >= f->size)
		return 0;
	pthread_mutex_lock(&f->lock);
	if (!(off >= f->win_off && (uint64_t)off + size <= (uint64_t)f->win_off + f->win_len)) {
		size_t want;

		if (off == f->next_off && off != 0)
			f->ahead = f->ahead * 2 > WEBDAV_READAHEAD_MAX ? WEBDAV_READAHEAD_MAX
			                                               : f->ahead * 2;
		else
			f->ahead = WEBDAV_READAHEAD_MIN;
		want = size > f->ahead ? size : f->ahead;
		if (f->size && (uint64_t)off + want > f->size)
			want = f->size - (uint64_t)off;
		if (f->failed_until_ms && mono_ms() < f->failed_until_ms) {
			pthread_mutex_unlock(&f->lock);
			return -EIO;
		}
		r = fetch(f, off, want);
		if (r < 0) {
			f->win_len = 0;
			if (r == -EIO)
				f->failed_until_ms = mono_ms() + WEBDAV_FAIL_HOLD_MS;
			pthread_mutex_unlock(&f->lock);
			return r;
		}
		f->failed_until_ms = 0;
	}
	if (off < f->win_off || (uint64_t)off >= (uint64_t)f->win_off + f->win_len) {
		n = 0; /* the window ends before off: end of file */
	} else {
		size_t avail = f->win_len - (size_t)(off - f->win_off);

		n = (ssize_t)(size < avail ? size : avail);
		memcpy(buf, f->win + (off - f->win_off), (size_t)n);
	}
	f->next_off = off + n;
	pthread_mutex_unlock(&f->lock);
	return n;
}
