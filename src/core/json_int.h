/*
 * json_int.h - internals of the JSON scanner shared by json.c and event_scan.c.
 *
 * The string scanner is inline because it is the hot loop of every scan: it looks at 16 bytes at
 * a time (SSE2) for the bytes that need attention (quote, backslash, control characters and
 * non-ASCII bytes) and hands each of those to ka__json_str_special(), which validates one escape
 * or one UTF-8 sequence. Loads never reach past `end`: the last bytes are read one at a time.
 */
#ifndef KAUDIT_JSON_INT_H
#define KAUDIT_JSON_INT_H

#include <stddef.h>
#include <stdio.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "kaudit/err.h"
#include "kaudit/json.h"

/* Sets err (if any) to msg at offset p - base. Returns KA_ESYNTAX. */
int ka__json_fail(struct ka_json_err *err, const char *base, const char *p, const char *msg);

/*
 * Validates the escape or UTF-8 sequence or rejects the control byte at p (which is a
 * backslash, a byte < 0x20 or a byte >= 0x80 inside a string). Returns the position after it,
 * or NULL with err filled. Sets *esc for a backslash.
 */
const char *ka__json_str_special(const char *p, const char *end, unsigned *esc,
                                 const char *base, struct ka_json_err *err);

/*
 * Validates the body of a string whose opening quote is just before p. Returns the position of
 * the closing quote, or NULL with err filled. *esc is set when the body holds a backslash.
 */
static inline const char *ka__json_str_end(const char *p, const char *end, unsigned *esc,
                                           const char *base, struct ka_json_err *err)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* Signed compare: bytes >= 0x80 are negative, so one test finds controls and non-ASCII. */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits == 0) {
            p += 16;
            continue;
        }
        p += __builtin_ctz(bits);
        if (*p == '"')
            return p;
        p = ka__json_str_special(p, end, esc, base, err);
        if (!p)
            return NULL;
    }
#endif
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p;
        if (c == '\\' || c < 0x20 || c >= 0x80) {
            p = ka__json_str_special(p, end, esc, base, err);
            if (!p)
                return NULL;
            continue;
        }
        p++;
    }
    ka__json_fail(err, base, p, "unterminated string");
    return NULL;
}

static inline const char *ka__json_ws(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= ' ' &&
           (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/*
 * Validates a number starting at p (a '-' or a digit). Returns the position after it, or NULL.
 * *is_int is cleared when it has a fraction or an exponent.
 */
const char *ka__json_num(const char *p, const char *end, unsigned *is_int);

/* Like ka_json_skip, without the leading whitespace skip; p must be < end. */
int ka__json_value(const char **pp, const char *end, const char *base, unsigned depth,
                   unsigned max_depth, struct ka_json_err *err);

/* End of a value that is known to be valid (no validation): used by the iterators. */
const char *ka__json_fast_end(const char *p, const char *end);

#endif
