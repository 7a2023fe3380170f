/* err.c - error strings and the diagnostics list (see include/kaudit/err.h). */
#include "kaudit/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ka_strerror(int err)
{
    switch (err) {
    case KA_OK: return "success";
    case KA_EINVAL: return "invalid argument or input";
    case KA_ENOMEM: return "out of memory";
    case KA_EIO: return "input/output error";
    case KA_ETOOBIG: return "a configured maximum was exceeded";
    case KA_ESYNTAX: return "syntax error";
    case KA_ENOTEVENT: return "not an audit event";
    case KA_ENOENT: return "not found";
    case KA_EPOLICY: return "invalid audit policy";
    default: return "unknown error";
    }
}

int ka_diag_vadd(struct ka_diag *d, enum ka_sev sev, const char *fmt, va_list ap)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct ka_diag_entry *v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return KA_ENOMEM;
        d->v = v;
        d->cap = cap;
    }
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        return KA_ENOMEM;
    d->v[d->n].sev = sev;
    d->v[d->n].msg = msg;
    d->n++;
    if (sev == KA_SEV_ERROR)
        d->n_errors++;
    else if (sev == KA_SEV_WARNING)
        d->n_warnings++;
    return KA_OK;
}

int ka_diag_add(struct ka_diag *d, enum ka_sev sev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ka_diag_vadd(d, sev, fmt, ap);
    va_end(ap);
    return rc;
}

void ka_diag_free(struct ka_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].msg);
    free(d->v);
    memset(d, 0, sizeof *d);
}

void ka_linecol(const char *buf, size_t off, unsigned long *line, unsigned long *col)
{
    unsigned long l = 1;
    size_t last_nl = (size_t)-1;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            l++;
            last_nl = i;
        }
    }
    *line = l;
    *col = (unsigned long)(off - (last_nl + 1) + 1);
}
