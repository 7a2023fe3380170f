/*
 * fuzz_event.c - libFuzzer target for the JSON validator, the event scanner and the document
 * scanner. When an event scans, every iterator over its raw members is walked and every string
 * is decoded, so the non-validating helpers run on everything the validator lets through.
 * Invariants checked: a document the validator rejects never scans as an event, and decoded
 * strings never grow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_out[1 << 16];

static void decode(struct ka_str s)
{
    if (!s.set || s.n > sizeof g_out)
        return;
    size_t n = ka_str_decode(s, g_out);
    if (n > s.n)
        abort();
    (void)ka_str_eq(s, g_out, n);
    if (!ka_str_eq(s, g_out, n) || ka_str_cmp(s, s) != 0)
        abort();
}

/* Walks a raw value recursively (bounded depth) through the iterators. */
static void walk(struct ka_raw r, unsigned depth)
{
    struct ka_json_iter it;
    struct ka_raw v;
    struct ka_str k;
    if (depth > 64)
        return;
    switch (ka_json_type_of(r.p, r.n)) {
    case KA_JSON_STRING:
        decode(ka_str_from_raw(r.p, r.n));
        break;
    case KA_JSON_ARRAY:
        (void)ka_json_array_len(r);
        ka_json_iter_init(&it, r);
        while (ka_json_iter_elem(&it, &v))
            walk(v, depth + 1);
        break;
    case KA_JSON_OBJECT:
        ka_json_iter_init(&it, r);
        while (ka_json_iter_member(&it, &k, &v)) {
            decode(k);
            walk(v, depth + 1);
        }
        break;
    default:
        break;
    }
}

static void walk_event(const struct ka_event *e)
{
    const struct ka_str strs[] = {
        e->kind, e->apiVersion, e->level, e->auditID, e->stage, e->requestURI, e->verb,
        e->userAgent, e->user.username, e->user.uid, e->impersonatedUser.username,
        e->impersonatedUser.uid, e->objectRef.resource, e->objectRef.namespace_,
        e->objectRef.name, e->objectRef.uid, e->objectRef.apiGroup, e->objectRef.apiVersion,
        e->objectRef.resourceVersion, e->objectRef.subresource, e->responseStatus.status,
        e->responseStatus.message, e->responseStatus.reason};
    const struct ka_raw raws[] = {
        e->raw, e->user.groups, e->user.extra, e->impersonatedUser.groups,
        e->impersonatedUser.extra, e->authenticationMetadata, e->sourceIPs,
        e->responseStatus.metadata, e->responseStatus.details, e->requestObject,
        e->responseObject, e->annotations, e->v1beta1_metadata, e->v1beta1_timestamp};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        decode(strs[i]);
    for (size_t i = 0; i < sizeof raws / sizeof *raws; i++)
        walk(raws[i], 0);
    (void)ka_level_name(e->level_v);
    (void)ka_stage_name(e->stage_v);
}

static int on_item(void *ud, const char *item, size_t n, size_t index)
{
    struct ka_event ev;
    struct ka_scan_err err;
    (void)ud;
    (void)index;
    if (ka_event_scan(item, n, NULL, &ev, &err) == KA_OK)
        walk_event(&ev);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct ka_json_err jerr;
    struct ka_event ev;
    struct ka_scan_err err;
    enum ka_doc_kind kind;
    struct ka_scan_opts small = {.max_depth = 8};
    int vrc = ka_json_validate(p, size, 0, &jerr);
    int erc = ka_event_scan(p, size, NULL, &ev, &err);
    int bom = size >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0;
    if (erc == KA_OK) {
        walk_event(&ev);
        if (vrc != KA_OK && !bom)
            abort(); /* an event must be valid JSON */
    }
    if (erc == KA_ENOTEVENT && vrc != KA_OK && !bom)
        abort(); /* "not an event" is only for valid JSON */
    if (ka_event_scan(p, size, &small, &ev, &err) == KA_OK)
        walk_event(&ev);
    (void)ka_doc_scan(p, size, NULL, &kind, on_item, NULL, &err);
    return 0;
}
