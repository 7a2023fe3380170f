/*
 * json.h - the strict, zero-copy JSON scanner underneath the event codec.
 *
 * Everything here works on borrowed bytes: nothing is allocated and nothing is copied. The
 * validators accept exactly RFC 8259 JSON: they reject invalid UTF-8 (overlongs, surrogates
 * encoded in UTF-8, code points above U+10FFFF), bad escapes, control characters inside strings,
 * leading zeros, bare `-`, `1.`, `.5`, trailing commas, unbalanced brackets, trailing garbage and
 * nesting deeper than the configured maximum. Escaped lone surrogates (`\ud800`) are valid JSON;
 * decoding turns them into U+FFFD as Go does. Duplicate object keys are accepted.
 *
 * Iterators (ka_json_iter_*) and ka_str_* assume their input was validated before and do not
 * validate again.
 */
#ifndef KAUDIT_JSON_H
#define KAUDIT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/buf.h"

#define KA_JSON_DEFAULT_MAX_DEPTH 512u

struct ka_json_err {
    size_t off;      /* byte offset of the problem from the start of the scanned buffer */
    char msg[96];    /* e.g. "invalid UTF-8 in string", "expected ',' or '}'" */
};

/*
 * Validates one complete JSON text in [p, p+n): optional whitespace, one value, optional
 * whitespace, nothing else. Returns KA_OK, KA_ESYNTAX or KA_ETOOBIG (depth), filling err.
 */
int ka_json_validate(const char *p, size_t n, unsigned max_depth, struct ka_json_err *err);

/*
 * Validates the value that starts at *pp (leading whitespace skipped) and ends before end, and
 * sets *pp just past it. depth is the nesting depth of the value's container (0 at top level).
 * err->off is relative to base. Used by the event scanner to skip members it does not index.
 */
int ka_json_skip(const char **pp, const char *end, const char *base, unsigned depth,
                 unsigned max_depth, struct ka_json_err *err);

/* Skips JSON whitespace (space, tab, LF, CR). */
const char *ka_json_ws(const char *p, const char *end);

/*
 * A string value: the bytes between the quotes, still escaped. set = the member was present
 * with a string value (JSON null and absence both leave set = 0, as Go leaves a zero value).
 * esc = the body contains a backslash, so compare and copy through ka_str_* functions.
 */
struct ka_str {
    const char *p;
    uint32_t n;
    uint8_t set;
    uint8_t esc;
};

/* Decoded value equals lit[0..n). Works on escaped bodies without allocating. */
bool ka_str_eq(struct ka_str s, const char *lit, size_t n);
/* Same, comparing two strings by their decoded values. */
bool ka_str_eq_str(struct ka_str a, struct ka_str b);
/* Byte-wise comparison of decoded values (<0, 0, >0), as Go sorts map keys. */
int ka_str_cmp(struct ka_str a, struct ka_str b);
/*
 * Decodes s into out, which must have room for s.n bytes (the decoded form is never longer).
 * Returns the decoded length. Lone surrogate escapes become U+FFFD (EF BF BD).
 */
size_t ka_str_decode(struct ka_str s, char *out);
/* Appends the decoded value to b. */
int ka_str_decode_buf(struct ka_str s, struct ka_buf *b);
/* Makes a ka_str from a validated raw JSON string value (with its quotes). */
struct ka_str ka_str_from_raw(const char *raw, size_t n);

/* A raw JSON value span. p == NULL (n == 0) means absent or null. */
struct ka_raw {
    const char *p;
    uint32_t n;
};

enum ka_json_type {
    KA_JSON_NONE = 0, /* absent */
    KA_JSON_NULL,
    KA_JSON_FALSE,
    KA_JSON_TRUE,
    KA_JSON_NUMBER,
    KA_JSON_STRING,
    KA_JSON_ARRAY,
    KA_JSON_OBJECT,
};
/* Type of a validated value by its first byte. */
enum ka_json_type ka_json_type_of(const char *p, size_t n);

/* Iterator over the elements of a validated array or the members of a validated object. */
struct ka_json_iter {
    const char *p;
    const char *end;
};
/* raw must be a validated "[...]" or "{...}" (may be absent: then the iteration is empty). */
void ka_json_iter_init(struct ka_json_iter *it, struct ka_raw raw);
/* Next array element as a raw span. Returns false at the end. */
bool ka_json_iter_elem(struct ka_json_iter *it, struct ka_raw *val);
/* Next object member: key (a ka_str with set = 1) and raw value. Returns false at the end. */
bool ka_json_iter_member(struct ka_json_iter *it, struct ka_str *key, struct ka_raw *val);
/* Number of elements of a validated array (0 if absent). */
size_t ka_json_array_len(struct ka_raw raw);

#endif
