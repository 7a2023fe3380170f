/* buf.c - growable byte buffer with a hard maximum (see include/kaudit/buf.h). */
#include "kaudit/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kaudit/err.h"

void ka_buf_init(struct ka_buf *b, size_t max)
{
    b->p = NULL;
    b->n = b->cap = 0;
    b->max = max;
}

void ka_buf_free(struct ka_buf *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

int ka_buf_reserve(struct ka_buf *b, size_t extra)
{
    size_t max = b->max ? b->max : SIZE_MAX / 2;
    if (extra > max || b->n > max - extra)
        return KA_ETOOBIG;
    size_t need = b->n + extra + 1; /* +1 keeps room for ka_buf_cstr's NUL */
    if (need <= b->cap)
        return KA_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 4 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return KA_ENOMEM;
    b->p = p;
    b->cap = cap;
    return KA_OK;
}

int ka_buf_append(struct ka_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return KA_OK;
    int rc = ka_buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return KA_OK;
}

int ka_buf_putc(struct ka_buf *b, char c)
{
    if (b->n + 1 < b->cap && (!b->max || b->n < b->max)) {
        b->p[b->n++] = c;
        return KA_OK;
    }
    return ka_buf_append(b, &c, 1);
}

int ka_buf_printf(struct ka_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        return KA_EINVAL;
    int rc = ka_buf_reserve(b, (size_t)len);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)len + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)len;
    return KA_OK;
}

const char *ka_buf_cstr(struct ka_buf *b)
{
    if (ka_buf_reserve(b, 0))
        return NULL;
    b->p[b->n] = 0;
    return b->p;
}
