/*
 * auth: HTTP Basic authentication against the one configured user, shared by
 * davd and apid.
 *
 * The password is either plain text (compared in constant time) or a crypt(3)
 * hash ("$y$" yescrypt, "$6$" SHA-512, "$5$", "$2b$"/"$2y$" bcrypt), verified with
 * libcrypt.  Since clients such as rclone and the Windows redirector send the
 * same Authorization header with every request and yescrypt costs milliseconds,
 * a header once verified is remembered for a while: a small table indexed by a
 * keyed hash of the header holds its exact bytes, compared in constant time.
 * "DOMAIN\user" (as Windows sends it) is taken as "user".
 *
 * Repeated failures from one address slow that address down: after
 * AUTH_FREE_FAILURES wrong attempts, it is refused without a check (AUTH_SLOWED,
 * to be answered 429 with Retry-After) for a time that doubles with each further
 * failure up to AUTH_MAX_DELAY_S.  A missing header is not a failure (clients
 * probe without credentials first).  Thread-safe; no logging.
 */
#ifndef MF_AUTH_H
#define MF_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define AUTH_FREE_FAILURES  5
#define AUTH_MAX_DELAY_S    60
#define AUTH_CACHE_TTL_S    300
#define AUTH_FAILURE_FORGET 600 /* seconds without a failure that clear an address */

enum auth_result {
	AUTH_OK,
	AUTH_MISSING, /* no Authorization header, or not Basic */
	AUTH_WRONG,   /* malformed, wrong user or wrong password */
	AUTH_SLOWED,  /* this address failed too often: refused unchecked for a while */
	AUTH_RESULT_MAX,
};

struct auth;

/*
 * The one user.  password: plain, or a crypt(3) hash starting with '$'.  Returns
 * -EINVAL when username is empty or a hash is of a method libcrypt cannot
 * verify, -ENOMEM.  Owner: the caller.
 */
int auth_new(const char *username, const char *password, struct auth **ret);
void auth_free(struct auth *a);

/* Whether the credentials are the shipped defaults (metamesh / metamesh). */
bool auth_is_default(const struct auth *a);
/* Whether the configured password is a crypt(3) hash. */
bool auth_is_hashed(const struct auth *a);

/*
 * Check one request: header is the Authorization value (NULL when absent), peer
 * the client's address (NULL: no per-address accounting), now_ms a CLOCK_MONOTONIC
 * time in ms.  For AUTH_SLOWED, *ret_retry_s (may be NULL) gets the seconds left.
 */
enum auth_result auth_check(struct auth *a, const char *header, const struct sockaddr *peer,
                            int64_t now_ms, unsigned *ret_retry_s);

/* Constant-time equality of two byte strings (the time depends on alen only). */
bool auth_equal(const void *a, size_t alen, const void *b, size_t blen);

/*
 * Decode a Basic credential ("Basic dXNlcjpwYXNz") into user and password
 * (NUL-terminated, each at most cap - 1 bytes); a "DOMAIN\" prefix of the user is
 * dropped.  Returns 0, -ENOENT (not Basic), -EINVAL (bad base64, no ':', a NUL),
 * -ENAMETOOLONG.
 */
int auth_parse_basic(const char *header, char *user, size_t user_cap, char *pass, size_t pass_cap);

#endif
