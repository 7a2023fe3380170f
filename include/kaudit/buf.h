/*
 * buf.h - a growable byte buffer with a hard maximum.
 *
 * The buffer owns its memory. Every append checks the maximum (max == 0 means SIZE_MAX/2) and
 * returns KA_ETOOBIG instead of growing past it, so callers can bound memory per event or body.
 * The contents are not NUL-terminated unless ka_buf_cstr() is called.
 */
#ifndef KAUDIT_BUF_H
#define KAUDIT_BUF_H

#include <stddef.h>
#include <string.h>

struct ka_buf {
    char *p;
    size_t n;   /* bytes used */
    size_t cap; /* bytes allocated */
    size_t max; /* maximum n; 0 = unlimited */
};

void ka_buf_init(struct ka_buf *b, size_t max);
void ka_buf_free(struct ka_buf *b);
static inline void ka_buf_reset(struct ka_buf *b)
{
    b->n = 0;
}
/* Makes room for at least extra more bytes. */
int ka_buf_reserve(struct ka_buf *b, size_t extra);
int ka_buf_append(struct ka_buf *b, const void *p, size_t n);
int ka_buf_putc(struct ka_buf *b, char c);
static inline int ka_buf_puts(struct ka_buf *b, const char *s)
{
    return ka_buf_append(b, s, strlen(s));
}
int ka_buf_printf(struct ka_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminates (the NUL is not counted in n) and returns p. NULL on allocation failure. */
const char *ka_buf_cstr(struct ka_buf *b);

#endif
