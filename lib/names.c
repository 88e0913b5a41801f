/*
 * names: turn values into names that every client can show, and keep two files
 * with the same rendered name apart.  See names.h for the definition of a safe
 * name and docs/rules.md for the replacement table.
 *
 * Replacements are byte-for-byte predictable: '/' and '\\' become '-', ':' becomes
 * '-' (" -" when a space follows it, so "Title: Sub" reads "Title - Sub"), '"'
 * becomes '\'', <>|?* and control characters (C0, DEL, C1) become '_', and every
 * byte that does not start a valid UTF-8 sequence becomes U+FFFD.  Nothing here
 * allocates or touches the file system.
 */
#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "snapshot_format.h"
#include "utf8.h"

/* The "extension" kept when a name is shortened or suffixed: at most this many bytes. */
#define NAMES_EXT_MAX 16

/* ASCII bytes that are replaced by one other byte; 0 = kept (':' is handled apart). */
static const char ascii_replacement[128] = {
    [0 ... 31] = '_', [127] = '_',  /* control characters */
    ['/'] = '-',      ['\\'] = '-', /* a value never adds a directory */
    ['"'] = '\'',     ['<'] = '_',  ['>'] = '_', ['|'] = '_', ['?'] = '_', ['*'] = '_',
};

static const char replacement_char[3] = {'\xef', '\xbf', '\xbd'}; /* U+FFFD */

static bool is_c1_control(const unsigned char *s, size_t n)
{
	return n == 2 && s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
}

/*
 * Invisible characters that can disguise a name: the bidirectional embeddings,
 * overrides and isolates (U+202A-U+202E, U+2066-U+2069: "a\u202Evkm.exe" shows as
 * "aexe.mkv"), the zero-width space U+200B and the byte order mark U+FEFF.  Joiners
 * (U+200C, U+200D) stay: scripts and emoji need them.
 */
static bool is_format_control(const unsigned char *s, size_t n)
{
	if (n != 3)
		return false;
	if (s[0] == 0xe2 && s[1] == 0x80)
		return s[2] == 0x8b || (s[2] >= 0xaa && s[2] <= 0xae);
	if (s[0] == 0xe2 && s[1] == 0x81)
		return s[2] >= 0xa6 && s[2] <= 0xa9;
	return s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf;
}

/*
 * The workhorse: append value sanitised, stopping before the first character that
 * does not fit (a character is never split).  Returns the new length; *ret_cut
 * tells whether something was left out.
 */
static size_t append_sanitised(char *out, size_t len, size_t cap, const char *value, size_t vlen,
                               bool *ret_cut)
{
	const unsigned char *v = (const unsigned char *)value;
	size_t i = 0;

	*ret_cut = false;
	while (i < vlen) {
		unsigned char c = v[i];
		const char *rep;
		size_t in_len, rep_len, run;
		char one;

		/* The common case: a run of printable ASCII that stays as it is. */
		for (run = i; run < vlen && v[run] >= 0x20 && v[run] < 0x7f &&
		              ascii_replacement[v[run]] == 0 && v[run] != ':';
		     run++)
			;
		if (run > i) {
			size_t n = run - i;

			if (len > cap || n > cap - len) {
				n = len > cap ? 0 : cap - len;
				*ret_cut = true;
			}
			memcpy(out + len, v + i, n);
			len += n;
			i += n;
			if (*ret_cut)
				return len;
			continue;
		}
		if (c < 0x80) {
			in_len = 1;
			if (c == ':') {
				bool space_next = i + 1 < vlen && v[i + 1] == ' ';
				bool space_before = len > 0 && out[len - 1] == ' ';

				rep = space_next && !space_before ? " -" : "-";
				rep_len = strlen(rep);
			} else if (ascii_replacement[c] != 0) {
				one = ascii_replacement[c];
				rep = &one;
				rep_len = 1;
			} else {
				rep = (const char *)v + i;
				rep_len = 1;
			}
		} else {
			in_len = utf8_sequence_length(v + i, vlen - i);
			if (in_len == 0) {
				in_len = 1;
				rep = replacement_char;
				rep_len = sizeof(replacement_char);
			} else if (is_c1_control(v + i, in_len) ||
			           is_format_control(v + i, in_len)) {
				rep = "_";
				rep_len = 1;
			} else {
				rep = (const char *)v + i;
				rep_len = in_len;
			}
		}
		if (len > cap || rep_len > cap - len) {
			*ret_cut = true;
			return len;
		}
		memcpy(out + len, rep, rep_len);
		len += rep_len;
		i += in_len;
	}
	return len;
}

int names_append_value(char *out, size_t *len, size_t cap, const char *value, size_t vlen)
{
	bool cut;
	size_t n = append_sanitised(out, *len, cap, value, vlen, &cut);

	if (cut)
		return -ENAMETOOLONG; /* *len untouched */
	*len = n;
	return 0;
}

size_t names_append_value_cut(char *out, size_t len, size_t cap, const char *value, size_t vlen)
{
	bool cut;

	return append_sanitised(out, len, cap, value, vlen, &cut);
}

/* Offset of the '.' that starts the name's short extension, or len when there is none. */
static size_t extension_start(const char *name, size_t len)
{
	size_t i = len, first = 0;

	while (first < len && name[first] == '.')
		first++; /* leading dots belong to the stem (".hidden") */
	while (i > first && len - i <= NAMES_EXT_MAX) {
		char c = name[i - 1];

		if (c == '.')
			return i - 1 == len - 1 ? len : i - 1; /* "x." has no extension */
		if (c == ' ')
			return len; /* "Mr. Smith": not an extension */
		i--;
	}
	return len;
}

static bool is_reserved(const char *name, size_t len)
{
	static const char *const three[] = {"CON", "PRN", "AUX", "NUL"};
	const char *dot = memchr(name, '.', len);
	size_t base = dot != NULL ? (size_t)(dot - name) : len;

	/* Windows ignores trailing spaces of the base: "CON .txt" is CON too. */
	while (base > 0 && name[base - 1] == ' ')
		base--;
	if (base == 3) {
		for (size_t i = 0; i < sizeof(three) / sizeof(three[0]); i++)
			if (strncasecmp(name, three[i], 3) == 0)
				return true;
		return false;
	}
	if (base == 4 && name[3] >= '1' && name[3] <= '9')
		return strncasecmp(name, "COM", 3) == 0 || strncasecmp(name, "LPT", 3) == 0;
	return false;
}

static bool is_forbidden_ascii(unsigned char c)
{
	return c < 0x80 && (ascii_replacement[c] != 0 || c == ':');
}

bool names_is_safe(const char *name, size_t len)
{
	const unsigned char *s = (const unsigned char *)name;

	if (len == 0 || len > SNAP_NAME_MAX)
		return false;
	if (name[len - 1] == '.' || name[len - 1] == ' ')
		return false; /* also rules out "." and ".." */
	for (size_t i = 0; i < len;) {
		size_t n = utf8_sequence_length(s + i, len - i);

		if (n == 0 || (n == 1 && is_forbidden_ascii(s[i])) || is_c1_control(s + i, n) ||
		    is_format_control(s + i, n))
			return false;
		i += n;
	}
	return !is_reserved(name, len);
}

static size_t strip_trailing(const char *name, size_t len)
{
	while (len > 0 && (name[len - 1] == '.' || name[len - 1] == ' '))
		len--;
	return len;
}

/* Shorten name to at most max bytes on a character boundary, keeping a short extension. */
static size_t cut_name(char *name, size_t len, size_t max)
{
	size_t ext, ext_len, stem;

	if (len <= max)
		return len;
	ext = extension_start(name, len);
	ext_len = len - ext;
	if (ext_len > 0 && ext_len < max) {
		stem = utf8_boundary(name, ext, max - ext_len);
		if (stem > 0) {
			memmove(name + stem, name + ext, ext_len);
			return stem + ext_len;
		}
	}
	return utf8_boundary(name, len, max);
}

size_t names_fix_component(char *name, size_t len, bool dot_ok)
{
	len = strip_trailing(name, len);
	if (len > SNAP_NAME_MAX)
		len = strip_trailing(name, cut_name(name, len, SNAP_NAME_MAX));
	if (len > 0 && (is_reserved(name, len) || (name[0] == '.' && !dot_ok))) {
		/* "CON.txt" -> "_CON.txt", ".....mkv" -> "_.....mkv"; room for the '_' first. */
		if (len + 1 > SNAP_NAME_MAX)
			len = strip_trailing(name, cut_name(name, len, SNAP_NAME_MAX - 1));
		memmove(name + 1, name, len);
		name[0] = '_';
		len++;
	}
	if (len == 0) {
		name[0] = '_'; /* "", ".", "..", "...", "  " */
		len = 1;
	}
	return len;
}

int names_add_suffix(const char *name, size_t len, unsigned n, char *out, size_t cap)
{
	char suffix[16], digits[12];
	int slen = 0, nd = 0;
	size_t ext = extension_start(name, len), ext_len = len - ext, stem = ext, total;

	/* " (n)" by hand: this runs once per contested name, snprintf is most of it. */
	do {
		digits[nd++] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	suffix[slen++] = ' ';
	suffix[slen++] = '(';
	while (nd > 0)
		suffix[slen++] = digits[--nd];
	suffix[slen++] = ')';
	if ((size_t)slen + ext_len > SNAP_NAME_MAX)
		return -ENAMETOOLONG; /* cannot happen for a safe name */
	if (stem + (size_t)slen + ext_len > SNAP_NAME_MAX)
		stem = utf8_boundary(name, stem, SNAP_NAME_MAX - (size_t)slen - ext_len);
	total = stem + (size_t)slen + ext_len;
	if (total + 1 > cap)
		return -ENAMETOOLONG;
	memmove(out, name, stem); /* memmove: out may be name itself */
	memmove(out + stem + slen, name + ext, ext_len);
	memcpy(out + stem, suffix, (size_t)slen);
	out[total] = '\0';
	return (int)total;
}

int names_strip_suffix(const char *name, size_t len, char *out, size_t cap, unsigned *ret_n)
{
	size_t ext = extension_start(name, len), i = ext, stem;
	char check[SNAP_NAME_MAX + 1];
	unsigned long n = 0;
	int r;

	if (i < 4 || name[i - 1] != ')')
		return -EINVAL;
	for (i--; i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9'; i--)
		;
	if (i < 3 || i + 1 == ext || name[i - 1] != '(' || name[i - 2] != ' ' || ext - i > 9)
		return -EINVAL;
	for (size_t k = i; k < ext - 1; k++)
		n = n * 10 + (unsigned long)(name[k] - '0');
	stem = i - 2;
	if (stem + (len - ext) + 1 > cap)
		return -ENAMETOOLONG;
	memmove(out, name, stem);
	memmove(out + stem, name + ext, len - ext);
	out[stem + len - ext] = '\0';
	/* Only an exact inverse counts: "a (02).mkv" or a cut stem is not one. */
	r = names_add_suffix(out, stem + len - ext, (unsigned)n, check, sizeof(check));
	if (r < 0 || (size_t)r != len || memcmp(check, name, len) != 0)
		return -EINVAL;
	*ret_n = (unsigned)n;
	return (int)(stem + len - ext);
}
