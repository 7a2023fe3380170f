/*
 * loki_body.c - the Loki push body: {"streams":[{"stream":{labels},"values":[["<ns>","<line>"],
 * …]},…]}. Events are grouped by their label set (streams in order of first appearance) and
 * each stream's entries are sorted by time, ties kept in batch order, so Loki never sees a
 * stream go backwards inside one request. Oversized lines lose their request/response objects
 * (marked with an annotation); lines still too long are dead-lettered, never cut.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http_common.h"
#include "kaudit/event.h"
#include "kaudit/jsonw.h"
#include "loki_int.h"

struct entry {
    size_t stream;
    int64_t sec;
    int32_t nsec;
    size_t idx;
    bool reduced; /* the line lives in the scratch buffer */
    size_t off, len;
};

struct stream {
    size_t off, len; /* label object text in the label buffer */
    uint64_t hash;
};

struct build {
    const void *ctx;
    struct entry *ent;
    size_t nent;
    struct stream *st;
    size_t nst;
    struct ka_buf labels, scratch, tmp;
};

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->stream != y->stream)
        return x->stream < y->stream ? -1 : 1;
    if (x->sec != y->sec)
        return x->sec < y->sec ? -1 : 1;
    if (x->nsec != y->nsec)
        return x->nsec < y->nsec ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Finds or adds the stream whose labels are in bd->tmp. */
static int stream_of(struct build *bd, size_t *out)
{
    uint64_t h = fnv1a(bd->tmp.p, bd->tmp.n);
    for (size_t s = 0; s < bd->nst; s++) {
        const struct stream *st = &bd->st[s];
        if (st->hash == h && st->len == bd->tmp.n &&
            !memcmp(bd->labels.p + st->off, bd->tmp.p, st->len)) {
            *out = s;
            return KA_OK;
        }
    }
    struct stream *st = &bd->st[bd->nst];
    st->off = bd->labels.n;
    st->len = bd->tmp.n;
    st->hash = h;
    if (ka_buf_append(&bd->labels, bd->tmp.p, bd->tmp.n))
        return KA_ENOMEM;
    *out = bd->nst++;
    return KA_OK;
}

/* Re-encodes e without its objects into the scratch buffer. KA_ETOOBIG when still too long. */
static int reduce(struct build *bd, const struct ka_out_event *e, struct entry *en)
{
    char orig[32];
    snprintf(orig, sizeof orig, "%zu", e->len);
    const char *keys[1] = {KA_LOKI_DROPPED_ANNOTATION};
    const char *vals[1] = {orig};
    struct ka_write_opts wo = {.drop_request_object = true,
                               .drop_response_object = true,
                               .add_annotation_keys = keys,
                               .add_annotation_vals = vals,
                               .n_add_annotations = 1};
    size_t start = bd->scratch.n;
    int rc = ka_event_write(e->ev, &wo, &bd->scratch);
    if (rc)
        return rc;
    bd->scratch.n--; /* the LF */
    en->reduced = true;
    en->off = start;
    en->len = bd->scratch.n - start;
    if (en->len > ka_loki_max_line(bd->ctx)) {
        bd->scratch.n = start;
        return KA_ETOOBIG;
    }
    return KA_OK;
}

/* Decides event i: an entry, or a PERMANENT item. KA_ENOMEM only on allocation failure. */
static int add_event(struct build *bd, const struct ka_out_event *e, size_t i,
                     struct ka_out_item *it)
{
    struct entry en = {.idx = i, .off = 0, .len = e->len};
    if (ka_outh_too_big(e, ka_loki_max_event(bd->ctx), it))
        return KA_OK;
    if (!ka_outh_time(e->ev, &en.sec, &en.nsec) || en.sec < 0 || en.sec > 9000000000ll) {
        ka_outh_set(it, KA_OUT_PERMANENT, "loki: event has no usable stageTimestamp or "
                                          "requestReceivedTimestamp");
        return KA_OK;
    }
    size_t max_line = ka_loki_max_line(bd->ctx);
    if (e->len > max_line) {
        int rc = reduce(bd, e, &en);
        if (rc == KA_ETOOBIG) {
            ka_outh_set(it, KA_OUT_PERMANENT,
                        "loki: event of %zu bytes exceeds max_line (%zu) even without "
                        "requestObject and responseObject", e->len, max_line);
            return KA_OK;
        }
        if (rc)
            return rc;
    }
    ka_buf_reset(&bd->tmp);
    int rc = ka_loki_stream_labels(bd->ctx, e->ev, &bd->tmp);
    if (!rc)
        rc = stream_of(bd, &en.stream);
    if (rc)
        return rc;
    bd->ent[bd->nent++] = en;
    return KA_OK;
}

static int put_entry(struct build *bd, const struct ka_out_batch *b, const struct entry *en,
                     struct ka_buf *body)
{
    char ns[32];
    snprintf(ns, sizeof ns, "%lld%09d", (long long)en->sec, (int)en->nsec);
    const char *line = en->reduced ? bd->scratch.p + en->off : b->ev[en->idx].line;
    const char *ts = ns;
    while (ts[0] == '0' && ts[1])
        ts++; /* second 0 of the epoch: no leading zeros */
    if (ka_buf_puts(body, "[\"") || ka_buf_puts(body, ts) || ka_buf_puts(body, "\",") ||
        ka_jw_str(body, line, en->len) || ka_buf_putc(body, ']'))
        return KA_ENOMEM;
    return KA_OK;
}

static int emit(struct build *bd, const struct ka_out_batch *b, struct ka_buf *body)
{
    if (bd->nent == 0)
        return KA_OK;
    qsort(bd->ent, bd->nent, sizeof *bd->ent, cmp_entry);
    if (ka_buf_puts(body, "{\"streams\":["))
        return KA_ENOMEM;
    for (size_t i = 0; i < bd->nent; i++) {
        const struct entry *en = &bd->ent[i];
        bool first = i == 0 || bd->ent[i - 1].stream != en->stream;
        const struct stream *st = &bd->st[en->stream];
        if (first && ((i > 0 && ka_buf_puts(body, "]},")) ||
                      ka_buf_puts(body, "{\"stream\":") ||
                      ka_buf_append(body, bd->labels.p + st->off, st->len) ||
                      ka_buf_puts(body, ",\"values\":[")))
            return KA_ENOMEM;
        if ((!first && ka_buf_putc(body, ',')) || put_entry(bd, b, en, body))
            return KA_ENOMEM;
    }
    return ka_buf_puts(body, "]}]}");
}

int ka_loki_build(const void *ctx, const struct ka_out_batch *b, struct ka_buf *body,
                  struct ka_out_item *items)
{
    struct build bd = {.ctx = ctx};
    ka_buf_init(&bd.labels, 0);
    ka_buf_init(&bd.scratch, 0);
    ka_buf_init(&bd.tmp, 0);
    size_t mark = body->n;
    int rc = KA_ENOMEM;
    bd.ent = calloc(b->n ? b->n : 1, sizeof *bd.ent);
    bd.st = calloc(b->n ? b->n : 1, sizeof *bd.st);
    if (!bd.ent || !bd.st)
        goto out;
    rc = KA_OK;
    for (size_t i = 0; i < b->n && !rc; i++)
        rc = add_event(&bd, &b->ev[i], i, &items[i]);
    if (!rc)
        rc = emit(&bd, b, body);
out:
    if (rc)
        body->n = mark;
    free(bd.ent);
    free(bd.st);
    ka_buf_free(&bd.labels);
    ka_buf_free(&bd.scratch);
    ka_buf_free(&bd.tmp);
    return rc;
}
