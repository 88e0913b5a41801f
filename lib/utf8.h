/*
 * utf8: validation of UTF-8 byte strings (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), shared by name sanitising and the path
 * routine of the front ends.
 */
#ifndef MF_UTF8_H
#define MF_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid sequence starting at s, or 0 if s[0..len) starts invalid. */
size_t utf8_sequence_length(const unsigned char *s, size_t len);
bool utf8_is_valid(const char *s, size_t len);
/* The largest n <= max such that s[0..n) does not end inside a sequence. */
size_t utf8_boundary(const char *s, size_t len, size_t max);

#endif
