/* pretok.h - GPT-2 pre-tokenisation (the split before byte-level BPE) and GPT-2's
 * byte-to-unicode mapping of token strings. */
#ifndef AK_TRAIN_PRETOK_H
#define AK_TRAIN_PRETOK_H

#include <stddef.h>
#include <stdint.h>

/* End of the pre-token starting at pos (pos < len), following the GPT-2 pattern
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with Unicode classes approximated for Latin, punctuation and space blocks. Invalid
 * UTF-8 bytes count as one-byte symbols. */
size_t ak_pretok_next(const char *s, size_t len, size_t pos);

/* GPT-2 token strings: every byte maps to one printable code point. Writes the UTF-8
 * of byte b's code point to out (up to 2 bytes) and returns its length. */
int ak_byte_to_unicode(uint8_t b, char out[2]);
/* Inverse over a whole string: returns the number of bytes written to out (capacity
 * cap), or -1 if s holds a code point outside the mapping. */
int ak_unicode_to_bytes(const char *s, size_t len, uint8_t *out, size_t cap);

#endif
