/*
 * input.c - records (events) from JSON-lines files, documents, gzip and stdin.
 * See include/kaudit/input.h for the layouts and limits.
 */
#include "kaudit/input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "kaudit/err.h"

#define KA__CHUNK (1u << 20)

struct ka__item {
    const char *p;
    size_t n;
    unsigned long line;
};

struct ka_input {
    gzFile gz;
    struct ka_input_opts o;
    char *b;            /* buffer */
    size_t cap, start, end;
    int eof;
    int first;          /* no non-blank line seen yet */
    int doc_done;       /* whole-document mode finished */
    unsigned long line; /* line number of b[start] */
    unsigned long long consumed;
    struct ka__item *items; /* pending items of the current line or document */
    size_t n_items, i_item, cap_items;
    int items_no_newline;   /* the pending items come from a last line without LF */
};

static int fill(struct ka_input *in)
{
    if (in->start > 0 && in->start == in->end)
        in->start = in->end = 0;
    if (in->start > 0 && in->cap - in->end < KA__CHUNK) {
        memmove(in->b, in->b + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    if (in->cap - in->end < KA__CHUNK) {
        size_t ncap = in->cap ? in->cap * 2 : 4 * KA__CHUNK;
        char *nb = realloc(in->b, ncap);
        if (!nb)
            return KA_ENOMEM;
        in->b = nb;
        in->cap = ncap;
    }
    int r = gzread(in->gz, in->b + in->end, (unsigned)(in->cap - in->end < (1u << 30)
                                                           ? in->cap - in->end
                                                           : (1u << 30)));
    if (r < 0)
        return KA_EIO;
    if (r == 0)
        in->eof = 1;
    in->end += (size_t)r;
    in->consumed += (unsigned long long)r;
    return KA_OK;
}

int ka_input_open(const char *path, const struct ka_input_opts *opts, struct ka_input **out)
{
    int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? KA_ENOENT : KA_EIO;
    struct ka_input *in = calloc(1, sizeof *in);
    if (!in) {
        close(fd);
        return KA_ENOMEM;
    }
    if (opts)
        in->o = *opts;
    if (!in->o.max_line)
        in->o.max_line = KA_INPUT_DEFAULT_MAX_LINE;
    if (!in->o.max_doc)
        in->o.max_doc = KA_INPUT_DEFAULT_MAX_DOC;
    in->gz = gzdopen(fd, "rb");
    if (!in->gz) {
        close(fd);
        free(in);
        return KA_ENOMEM;
    }
    gzbuffer(in->gz, 1u << 18);
    in->first = 1;
    in->line = 1;
    *out = in;
    return KA_OK;
}

void ka_input_close(struct ka_input *in)
{
    if (!in)
        return;
    gzclose(in->gz);
    free(in->b);
    free(in->items);
    free(in);
}

unsigned long long ka_input_bytes(const struct ka_input *in)
{
    return in->consumed;
}

static int collect_item(void *ud, const char *item, size_t n, size_t index)
{
    (void)index;
    struct ka_input *in = ud;
    if (in->n_items == in->cap_items) {
        size_t nc = in->cap_items ? in->cap_items * 2 : 64;
        struct ka__item *v = realloc(in->items, nc * sizeof *v);
        if (!v)
            return KA_ENOMEM;
        in->items = v;
        in->cap_items = nc;
    }
    in->items[in->n_items++] = (struct ka__item){item, n, 0};
    return 0;
}

/* Splits a document (line or whole file) into pending items. base_line = line of p[0]. */
static int split_doc(struct ka_input *in, const char *p, size_t n, unsigned long base_line,
                     struct ka_record *rec)
{
    struct ka_scan_err se;
    enum ka_doc_kind kind;
    in->n_items = in->i_item = 0;
    int rc = ka_doc_scan(p, n, &in->o.scan, &kind, collect_item, in, &se);
    if (rc == KA_ENOMEM)
        return rc;
    if (rc) {
        unsigned long l, c;
        ka_linecol(p, se.off, &l, &c);
        rec->err = se.code ? se.code : rc;
        rec->p = NULL;
        rec->n = 0;
        rec->line = base_line + l - 1;
        snprintf(rec->msg, sizeof rec->msg, "col %lu: %s", c, se.msg);
        in->n_items = 0;
        return 1;
    }
    /* Line numbers: items come in increasing offset order. */
    unsigned long line = base_line;
    const char *scan = p;
    for (size_t i = 0; i < in->n_items; i++) {
        for (; scan < in->items[i].p; scan++)
            line += *scan == '\n';
        in->items[i].line = line;
    }
    return 0;
}

static int pop_item(struct ka_input *in, struct ka_record *rec)
{
    if (in->i_item >= in->n_items)
        return 0;
    struct ka__item *it = &in->items[in->i_item++];
    rec->p = it->p;
    rec->n = it->n;
    rec->line = it->line;
    rec->err = 0;
    rec->no_newline = in->items_no_newline;
    rec->msg[0] = 0;
    return 1;
}

static int is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

/* Strips a leading BOM and surrounding whitespace; returns the trimmed span. */
static void trim(const char **p, size_t *n)
{
    if (*n >= 3 && memcmp(*p, "\xef\xbb\xbf", 3) == 0) {
        *p += 3;
        *n -= 3;
    }
    while (*n && (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n')) {
        (*p)++;
        (*n)--;
    }
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' || (*p)[*n - 1] == '\r' ||
                  (*p)[*n - 1] == '\n'))
        (*n)--;
}

static int read_document(struct ka_input *in, struct ka_record *rec)
{
    while (!in->eof) {
        if (in->end - in->start > in->o.max_doc) {
            rec->err = KA_ETOOBIG;
            rec->p = NULL;
            rec->line = in->line;
            snprintf(rec->msg, sizeof rec->msg,
                     "document larger than the maximum of %zu bytes; skipped", in->o.max_doc);
            in->doc_done = 1;
            return 1;
        }
        int rc = fill(in);
        if (rc)
            return rc;
    }
    in->doc_done = 1;
    const char *p = in->b + in->start;
    size_t n = in->end - in->start;
    int rc = split_doc(in, p, n, in->line, rec);
    if (rc != 0)
        return rc;
    return pop_item(in, rec);
}

/* A line holding a whole EventList or array is split into items. */
static int line_is_doc(const char *p, size_t n)
{
    if (n && p[0] == '[')
        return 1;
    size_t lim = n < 96 ? n : 96;
    return memmem(p, lim, "\"EventList\"", 11) != NULL;
}

int ka_input_next(struct ka_input *in, struct ka_record *rec)
{
    rec->no_newline = 0;
    if (pop_item(in, rec))
        return 1;
    if (in->doc_done)
        return 0;
    for (;;) {
        char *nl = in->end > in->start ? memchr(in->b + in->start, '\n', in->end - in->start)
                                       : NULL;
        if (!nl && !in->eof && in->end - in->start <= in->o.max_line) {
            int rc = fill(in);
            if (rc)
                return rc;
            continue;
        }
        if (!nl && in->end == in->start)
            return 0; /* eof */
        size_t len = nl ? (size_t)(nl - (in->b + in->start)) : in->end - in->start;
        unsigned long line = in->line;
        if (len > in->o.max_line) {
            /* Skip to the end of this line, then report it. */
            while (!nl) {
                in->start = in->end;
                if (in->eof)
                    break;
                int rc = fill(in);
                if (rc)
                    return rc;
                nl = in->end > in->start
                         ? memchr(in->b + in->start, '\n', in->end - in->start)
                         : NULL;
            }
            in->start = nl ? (size_t)(nl - in->b) + 1 : in->end;
            in->line++;
            rec->no_newline = !nl;
            rec->p = NULL;
            rec->n = 0;
            rec->line = line;
            rec->err = KA_ETOOBIG;
            snprintf(rec->msg, sizeof rec->msg,
                     "line longer than the maximum of %zu bytes; skipped", in->o.max_line);
            return 1;
        }
        const char *p = in->b + in->start;
        size_t n = len;
        if (in->first && !is_blank(p, n)) {
            const char *tp = p;
            size_t tn = n;
            trim(&tp, &tn);
            in->first = tn == 0; /* a line holding only a BOM is still blank */
            /* A lone first line without LF is a line (maybe cut by a crash), not a document. */
            if (nl && tn && tp[tn - 1] != '}' && tp[tn - 1] != ']')
                return read_document(in, rec);
        }
        in->start += len + (nl ? 1 : 0);
        in->line++;
        if (is_blank(p, n))
            continue;
        if (line == 1)
            trim(&p, &n);
        if (n == 0)
            continue; /* nothing but a BOM */
        if (line_is_doc(p, n)) {
            in->items_no_newline = !nl;
            rec->no_newline = !nl;
            int rc = split_doc(in, p, n, line, rec);
            if (rc != 0)
                return rc;
            if (pop_item(in, rec))
                return 1;
            continue;
        }
        rec->p = p;
        rec->n = n;
        rec->line = line;
        rec->err = 0;
        rec->no_newline = !nl;
        rec->msg[0] = 0;
        return 1;
    }
}
