/*
 * fuzz_dfields.c - libFuzzer target for the detection field extractors (src/detect/fields*.c).
 * The input is one audit event; when it scans, every field of the catalogue is extracted without
 * an argument and with typical arguments (index 0 and 1, keys, JSON pointers), twice per event
 * (the second time from the slot cache), and over two events so the arena reset runs.
 * Invariants checked: every value is NUL-terminated at its length, no extraction yields more
 * than KA_DFIELD_MAX_VALUES values, scalar fields yield at most one value, and a cached
 * extraction returns the same values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/detect/fields.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 512

struct collect {
    const char *names[MAX_FIELDS];
    enum ka_dfield_arg args[MAX_FIELDS];
    size_t n;
};

static void on_field(void *ud, const char *name, bool is_list, enum ka_dfield_arg arg,
                     const char *desc)
{
    struct collect *c = ud;
    (void)is_list;
    (void)desc;
    if (c->n < MAX_FIELDS) {
        c->names[c->n] = name;
        c->args[c->n++] = arg;
    }
}

static void check(const struct ka_dfield *f, const struct ka_dvals *v)
{
    if (v->n > KA_DFIELD_MAX_VALUES || (!f->is_list && v->n > 1))
        abort();
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i][v->len[i]] != '\0')
            abort();
}

static void extract(struct ka_dctx *c, const char *name, const char *arg, unsigned slot)
{
    struct ka_dfield f;
    struct ka_dvals a, b;
    if (ka_dfield_resolve(name, arg, &f, NULL, 0) != KA_OK)
        return;
    f.slot = slot;
    if (ka_dctx_extract(c, &f, &a) != KA_OK)
        return;
    check(&f, &a);
    if (ka_dctx_extract(c, &f, &b) != KA_OK || b.n != a.n || b.v != a.v)
        abort();
}

static void run_all(struct ka_dctx *c, const struct collect *fl)
{
    static const char *const idx[] = {NULL, "0", "1"};
    static const char *const keys[] = {"command", "/etc*", "/"};
    static const char *const ptrs[] = {NULL, "", "/requestObject/spec/containers/0",
                                       "/annotations/a~1b", "/sourceIPs/1", "/objectRef/name"};
    unsigned slot = 0;
    for (size_t i = 0; i < fl->n; i++) {
        const char *const *a = idx;
        size_t na = 1;
        if (fl->args[i] == KA_DFIELD_ARG_INDEX)
            na = 3;
        else if (fl->args[i] == KA_DFIELD_ARG_KEY)
            a = keys, na = 3;
        else if (fl->args[i] == KA_DFIELD_ARG_PTR)
            a = ptrs, na = 6;
        for (size_t j = 0; j < na; j++)
            extract(c, fl->names[i], a[j], slot++);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct collect fl;
    static struct ka_dctx *ctx;
    struct ka_event ev;
    struct ka_scan_err err;
    if (!ctx) {
        ka_dfield_each(on_field, &fl);
        if (ka_dctx_new(MAX_FIELDS * 6, &ctx) != KA_OK)
            abort();
    }
    if (ka_event_scan((const char *)data, size, NULL, &ev, &err) != KA_OK)
        return 0;
    for (uint64_t round = 0; round < 2; round++) {
        ka_dctx_reset(ctx, &ev, round, "fuzz");
        run_all(ctx, &fl);
    }
    return 0;
}
