/*
 * nfc: composes the decomposed (NFD) Latin letters that macOS clients send in
 * names ("e" + U+0301) into their precomposed (NFC) form ("é"), which is what
 * the snapshot holds, so that a Finder lookup finds the entry.  A small fixed
 * table of the combining marks used by European languages (grave, acute,
 * circumflex, tilde, macron, breve, dot, diaeresis, ring, double acute,
 * caron, cedilla, ogonek) over the basic Latin letters; anything else is left
 * as it is.  Not a full Unicode normaliser.
 */
#ifndef MF_DAVD_NFC_H
#define MF_DAVD_NFC_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Compose in[0..len) into out (cap bytes, NUL-terminated).  Returns the new
 * length, 0 when nothing was composed (out is then untouched), -ENAMETOOLONG.
 */
int nfc_compose(const char *in, size_t len, char *out, size_t cap);

#endif
