/* textutil.h - small pure helpers of the server: UTF-8 checks, the stable A/B hash, and
 * the routing trace bar. */
#ifndef AK_SERVE_TEXTUTIL_H
#define AK_SERVE_TEXTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0 if it is invalid or cut short by n. */
size_t ak_utf8_char_len(const char *s, size_t n);
int ak_utf8_valid(const char *s, size_t n); /* 1 if all of s is well-formed UTF-8 */
/* The longest prefix of s[0..n) that does not end inside an incomplete (but so far valid)
 * multi-byte sequence: what a stream may send now without splitting a character. */
size_t ak_utf8_stream_prefix(const char *s, size_t n);

/* FNV-1a, 64 bits (offset basis 14695981039346656037, prime 1099511628211). */
uint64_t ak_fnv1a64(const char *s, size_t n);
/* The hash mapped to [0, 1): its top 53 bits / 2^53. */
double ak_hash_unit(uint64_t h);

/* Writes "L03 | H=0.42 ####.... | K=1": the layer, the router entropy in nats, a bar of
 * `width` cells filled in proportion to H / ln(n_experts), and the chosen K. Returns the
 * length written (truncated to cap - 1). */
int ak_trace_bar(char *buf, size_t cap, int layer, float entropy_nats, int n_experts, int k, int width);

#endif
