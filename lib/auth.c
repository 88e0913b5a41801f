/*
 * auth: Basic authentication with a cache of verified headers and per-address
 * slowdown (see auth.h).
 *
 * Both tables are small, fixed and direct-mapped: a slot is chosen by a hash
 * keyed with a random secret drawn at start, so a client cannot aim at a slot,
 * and a newcomer simply replaces what sat there.  One mutex guards both; the
 * crypt(3) verification runs outside it.
 */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "hash.h"

#define CACHE_SLOTS      64
#define CACHE_HEADER_MAX 256
#define FAIL_SLOTS       256
#define CRED_MAX         256

struct cache_slot {
	uint64_t key;
	int64_t expires_ms;
	size_t len;
	char header[CACHE_HEADER_MAX];
};

struct fail_slot {
	unsigned char addr[16];
	uint64_t key;
	unsigned failures;
	int64_t last_ms;
	int64_t blocked_until_ms;
};

struct auth {
	char *username;
	char *password;
	bool hashed;
	uint64_t secret;
	pthread_mutex_t lock;
	struct cache_slot cache[CACHE_SLOTS];
	struct fail_slot fails[FAIL_SLOTS];
};

bool auth_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	unsigned char diff = (unsigned char)(alen != blen);

	/* Runs over a's bytes whatever b holds; b is read modulo its length. */
	for (size_t i = 0; i < alen; i++)
		diff |= x[i] ^ (blen ? y[i % blen] : 0);
	return diff == 0;
}

static bool is_hash(const char *p)
{
	return p[0] == '$';
}

int auth_new(const char *username, const char *password, struct auth **ret)
{
	struct auth *a;

	if (!username || !*username || !password)
		return -EINVAL;
	if (is_hash(password)) {
		/* A hash libcrypt cannot verify would refuse every login. */
		struct crypt_data *cd = calloc(1, sizeof(*cd));
		const char *h;
		bool ok;

		if (!cd)
			return -ENOMEM;
		/* Well-formed: hashing anything with it as the setting gives a string of
		 * its length with the same method and salt (everything to the last '$'). */
		h = crypt_rn("probe", password, cd, sizeof(*cd));
		ok = h && h[0] == '$' && strlen(h) == strlen(password) &&
		     strrchr(h, '$') - h == strrchr(password, '$') - password &&
		     strncmp(h, password, (size_t)(strrchr(h, '$') - h)) == 0;
		free(cd);
		if (!ok)
			return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->username = strdup(username);
	a->password = strdup(password);
	if (!a->username || !a->password) {
		auth_free(a);
		return -ENOMEM;
	}
	a->hashed = is_hash(password);
	if (getrandom(&a->secret, sizeof(a->secret), 0) != sizeof(a->secret))
		a->secret = (uint64_t)(uintptr_t)a ^ 0x9e3779b97f4a7c15ull;
	pthread_mutex_init(&a->lock, NULL);
	*ret = a;
	return 0;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a->username);
	if (a->password)
		explicit_bzero(a->password, strlen(a->password));
	free(a->password);
	explicit_bzero(a->cache, sizeof(a->cache));
	free(a);
}

bool auth_is_default(const struct auth *a)
{
	return strcmp(a->username, "metamesh") == 0 && !a->hashed &&
	       strcmp(a->password, "metamesh") == 0;
}

bool auth_is_hashed(const struct auth *a)
{
	return a->hashed;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode base64 (padding optional) into out; returns the length or -errno. */
static int b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	while (len > 0 && in[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);

		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -ENAMETOOLONG;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits >= 6) /* one lone character: not base64 */
		return -EINVAL;
	return (int)o;
}

int auth_parse_basic(const char *header, char *user, size_t user_cap, char *pass, size_t pass_cap)
{
	unsigned char buf[2 * CRED_MAX + 2];
	const unsigned char *colon, *u;
	size_t ulen, plen;
	int n;

	if (!header)
		return -ENOENT;
	while (*header == ' ' || *header == '\t')
		header++;
	if (strncasecmp(header, "Basic", 5) != 0 || (header[5] != ' ' && header[5] != '\t'))
		return -ENOENT;
	header += 6;
	while (*header == ' ' || *header == '\t')
		header++;
	n = (int)strlen(header);
	while (n > 0 && (header[n - 1] == ' ' || header[n - 1] == '\t'))
		n--;
	n = b64_decode(header, (size_t)n, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (memchr(buf, '\0', (size_t)n) != NULL)
		return -EINVAL;
	colon = memchr(buf, ':', (size_t)n);
	if (!colon)
		return -EINVAL;
	u = buf;
	ulen = (size_t)(colon - buf);
	for (size_t i = ulen; i > 0; i--) {
		if (buf[i - 1] == '\\') { /* DOMAIN\user */
			u = buf + i;
			ulen = (size_t)(colon - u);
			break;
		}
	}
	plen = (size_t)n - (size_t)(colon + 1 - buf);
	if (ulen >= user_cap || plen >= pass_cap)
		return -ENAMETOOLONG;
	memcpy(user, u, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, plen);
	pass[plen] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static bool verify(const struct auth *a, const char *user, const char *pass)
{
	bool user_ok = auth_equal(user, strlen(user), a->username, strlen(a->username));
	bool pass_ok;

	if (a->hashed) {
		struct crypt_data *cd = calloc(1, sizeof(*cd));
		const char *h;

		if (!cd)
			return false;
		h = crypt_rn(pass, a->password, cd, sizeof(*cd));
		pass_ok = h && auth_equal(h, strlen(h), a->password, strlen(a->password));
		explicit_bzero(cd, sizeof(*cd));
		free(cd);
	} else {
		pass_ok = auth_equal(pass, strlen(pass), a->password, strlen(a->password));
	}
	return user_ok & pass_ok;
}

/* The address bytes of peer (IPv4 mapped into IPv6 form), false when not IP. */
static bool peer_bytes(const struct sockaddr *peer, unsigned char out[16])
{
	if (!peer)
		return false;
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)peer;

		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &in->sin_addr, 4);
		return true;
	}
	if (peer->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* The slot of addr; cleared when it held another address or a forgotten one. */
static struct fail_slot *fail_slot(struct auth *a, const unsigned char addr[16], int64_t now_ms)
{
	uint64_t key = hash64(addr, 16, a->secret) | 1;
	struct fail_slot *f = &a->fails[key % FAIL_SLOTS];

	if (f->key != key || memcmp(f->addr, addr, 16) != 0 ||
	    now_ms - f->last_ms > (int64_t)AUTH_FAILURE_FORGET * 1000) {
		memset(f, 0, sizeof(*f));
		f->key = key;
		memcpy(f->addr, addr, 16);
	}
	return f;
}

enum auth_result auth_check(struct auth *a, const char *header, const struct sockaddr *peer,
                            int64_t now_ms, unsigned *ret_retry_s)
{
	char user[CRED_MAX], pass[CRED_MAX];
	unsigned char addr[16];
	bool has_addr = peer_bytes(peer, addr);
	size_t hlen = header ? strlen(header) : 0;
	uint64_t key = 0;
	struct cache_slot *c = NULL;
	struct fail_slot *f = NULL;
	bool ok;
	int r;

	if (!header || hlen == 0)
		return AUTH_MISSING;
	pthread_mutex_lock(&a->lock);
	if (has_addr) {
		f = fail_slot(a, addr, now_ms);
		if (f->blocked_until_ms > now_ms) {
			if (ret_retry_s)
				*ret_retry_s =
				    (unsigned)((f->blocked_until_ms - now_ms + 999) / 1000);
			pthread_mutex_unlock(&a->lock);
			return AUTH_SLOWED;
		}
	}
	if (hlen < CACHE_HEADER_MAX) {
		key = hash64(header, hlen, a->secret) | 1;
		c = &a->cache[key % CACHE_SLOTS];
		if (c->key == key && c->expires_ms > now_ms &&
		    auth_equal(header, hlen, c->header, c->len)) {
			if (f)
				f->failures = 0;
			pthread_mutex_unlock(&a->lock);
			return AUTH_OK;
		}
	}
	pthread_mutex_unlock(&a->lock);

	r = auth_parse_basic(header, user, sizeof(user), pass, sizeof(pass));
	if (r == -ENOENT)
		return AUTH_MISSING;
	ok = r == 0 && verify(a, user, pass);
	explicit_bzero(pass, sizeof(pass));

	pthread_mutex_lock(&a->lock);
	if (ok && c) {
		c->key = key;
		c->expires_ms = now_ms + (int64_t)AUTH_CACHE_TTL_S * 1000;
		c->len = hlen;
		memcpy(c->header, header, hlen);
	}
	if (has_addr) {
		f = fail_slot(a, addr, now_ms);
		if (ok) {
			f->failures = 0;
			f->blocked_until_ms = 0;
		} else {
			f->failures++;
			f->last_ms = now_ms;
			if (f->failures >= AUTH_FREE_FAILURES) {
				unsigned shift = f->failures - AUTH_FREE_FAILURES;
				int64_t delay_s =
				    shift >= 6 ? AUTH_MAX_DELAY_S : (int64_t)1 << shift;

				if (delay_s > AUTH_MAX_DELAY_S)
					delay_s = AUTH_MAX_DELAY_S;
				f->blocked_until_ms = now_ms + delay_s * 1000;
			}
		}
	}
	pthread_mutex_unlock(&a->lock);
	return ok ? AUTH_OK : AUTH_WRONG;
}
