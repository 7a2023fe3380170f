/*
 * jsonw.h - JSON writing primitives with kube-apiserver's exact byte rules (spec §1.8).
 *
 * Strings are escaped as Go's encoding/json does in HTML-safe mode: `"` `\\` and \n \r \t \b \f
 * by name, other bytes below 0x20 as \u00xx (lowercase hex), `<` `>` `&` as \u003c \u003e
 * \u0026, U+2028/U+2029 as \u2028/\u2029, every byte that is not part of valid UTF-8 as \ufffd;
 * everything else (DEL and valid UTF-8 included) literally. `/` is not escaped.
 * All functions append to a ka_buf and return KA_OK, KA_ENOMEM or KA_ETOOBIG.
 */
#ifndef KAUDIT_JSONW_H
#define KAUDIT_JSONW_H

#include <stdint.h>
#include <stddef.h>

#include "kaudit/buf.h"

/* Writes s (n bytes, any content) as a quoted, escaped JSON string. */
int ka_jw_str(struct ka_buf *b, const char *s, size_t n);
/* Writes the escaped contents of s without the surrounding quotes. */
int ka_jw_str_body(struct ka_buf *b, const char *s, size_t n);
/* Writes "key": (key is a trusted ASCII literal that needs no escaping). */
int ka_jw_key(struct ka_buf *b, const char *key);
int ka_jw_int(struct ka_buf *b, int64_t v);
/*
 * Writes a MicroTime: "YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC with exactly six fractional digits,
 * nsec truncated (not rounded) to microseconds. sec is seconds since the Unix epoch (may be
 * negative). Years outside 0..9999 are clamped into the format as Go would print them only for
 * 0..9999; callers reject other years when parsing.
 */
int ka_jw_microtime(struct ka_buf *b, int64_t sec, int32_t nsec);
/*
 * Appends raw JSON (which must already be valid) compacted as Go's json.Compact with HTML
 * escaping does: insignificant whitespace removed; inside strings `<` `>` `&` U+2028 U+2029
 * escaped as \u003c \u003e \u0026 \u2028 \u2029; everything else byte for byte.
 */
int ka_jw_compact(struct ka_buf *b, const char *raw, size_t n);

/* Civil-date helpers shared by the time parser and writer (proleptic Gregorian, UTC). */
int64_t ka_days_from_civil(int64_t y, unsigned m, unsigned d);
void ka_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
