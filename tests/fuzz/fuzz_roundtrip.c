/*
 * fuzz_roundtrip.c - libFuzzer target for the canonical event writer. Whenever the scanner
 * accepts an input, the writer must encode it, its output must scan again as an event, and
 * writing that second scan must give exactly the same bytes (the encoding is idempotent). The
 * output is one line: it ends in a single LF and holds no other. Checked with the default
 * options and with every ka_write_opts change at once (level override, both objects dropped,
 * managedFields removed, one annotation added). Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const g_keys[] = {"fuzz.kaudit.io/mark"};
static const char *const g_vals[] = {"roundtrip"};

static void check_line(const struct ka_buf *b)
{
    if (b->n < 2 || b->p[b->n - 1] != '\n' || memchr(b->p, '\n', b->n - 1) != NULL)
        abort(); /* canonical output is exactly one line */
}

/* Writes ev with wo into out; aborts unless it succeeds as a single line. */
static void write_ok(const struct ka_event *ev, const struct ka_write_opts *wo,
                     struct ka_buf *out)
{
    if (ka_event_write(ev, wo, out) != KA_OK)
        abort();
    check_line(out);
}

/* One round trip under wo: write, rescan, rewrite, compare. */
static void roundtrip(const struct ka_event *ev, const struct ka_write_opts *wo)
{
    struct ka_buf w1, w2;
    struct ka_event ev2;
    struct ka_scan_err err;
    ka_buf_init(&w1, 0);
    ka_buf_init(&w2, 0);
    write_ok(ev, wo, &w1);
    if (ka_event_scan(w1.p, w1.n, NULL, &ev2, &err) != KA_OK)
        abort(); /* the writer's output must be an event */
    write_ok(&ev2, wo, &w2);
    if (w1.n != w2.n || memcmp(w1.p, w2.p, w1.n) != 0)
        abort(); /* not idempotent */
    ka_buf_free(&w1);
    ka_buf_free(&w2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ka_event ev;
    struct ka_scan_err err;
    const struct ka_write_opts plain = {0};
    const struct ka_write_opts all = {
        .level = "Metadata",
        .drop_request_object = true,
        .drop_response_object = true,
        .omit_managed_fields = true,
        .add_annotation_keys = g_keys,
        .add_annotation_vals = g_vals,
        .n_add_annotations = 1,
    };
    if (ka_event_scan((const char *)data, size, NULL, &ev, &err) != KA_OK)
        return 0;
    roundtrip(&ev, &plain);
    roundtrip(&ev, &all);
    return 0;
}
