/*
 * test_detect_fields.h - the table runner of the detection field tests (test_detect_fields.c,
 * test_detect_kfields.c): scan an event, extract each field of a table, compare the values.
 */
#ifndef KA_TEST_DETECT_FIELDS_H
#define KA_TEST_DETECT_FIELDS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/detect/fields.h"
#include "../../src/detect/fields_int.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

/* expect: values joined by '|'; "" = one empty value; NULL = not present (n == 0). */
struct fcase {
    const char *field, *arg, *expect;
};

static void join_vals(const struct ka_dvals *v, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < v->n; i++) {
        cr_assert_eq(strlen(v->v[i]), v->len[i], "value %zu not NUL-terminated at its length", i);
        int w = snprintf(out + o, cap - o, "%s%s", i ? "|" : "", v->v[i]);
        cr_assert(w >= 0 && (size_t)w < cap - o);
        o += (size_t)w;
    }
}

static char *g_keep;

static void scan(const char *json, struct ka_event *ev)
{
    size_t n = strlen(json);
    free(g_keep);
    g_keep = malloc(n + 1);
    memcpy(g_keep, json, n + 1);
    struct ka_scan_err err;
    int rc = ka_event_scan(g_keep, n, NULL, ev, &err);
    cr_assert_eq(rc, KA_OK, "scan: %s at %zu", err.msg, err.off);
}

static void run_table(const char *json, const struct fcase *t, size_t n)
{
    struct ka_event ev;
    struct ka_dctx *c = NULL;
    scan(json, &ev);
    cr_assert_eq(ka_dctx_new((unsigned)n, &c), KA_OK);
    ka_dctx_reset(c, &ev, 42, "h1");
    for (size_t i = 0; i < n; i++) {
        struct ka_dfield f;
        char msg[128], got[8192];
        int rc = ka_dfield_resolve(t[i].field, t[i].arg, &f, msg, sizeof msg);
        cr_assert_eq(rc, KA_OK, "%s: %s", t[i].field, msg);
        f.slot = (unsigned)i;
        struct ka_dvals v;
        cr_assert_eq(ka_dctx_extract(c, &f, &v), KA_OK, "%s", t[i].field);
        join_vals(&v, got, sizeof got);
        if (!t[i].expect)
            cr_expect_eq(v.n, 0, "%s[%s]: expected nothing, got %zu: %s", t[i].field,
                         t[i].arg ? t[i].arg : "", v.n, got);
        else
            cr_expect(v.n > 0 && strcmp(got, t[i].expect) == 0, "%s[%s]: expected '%s', got '%s'",
                      t[i].field, t[i].arg ? t[i].arg : "", t[i].expect, got);
    }
    ka_dctx_free(c);
    free(g_keep);
    g_keep = NULL;
}

#define RUN(ev, tab) run_table(ev, tab, sizeof(tab) / sizeof(tab)[0])

#endif
