/*
 * es_resp.c - the Elasticsearch/OpenSearch _bulk response: every item's status checked and
 * mapped to OK / RETRY / PERMANENT; error answers turned into reasons; dated index names.
 */
#include <stdio.h>
#include <string.h>

#include "../http_common.h"
#include "es_int.h"
#include "kaudit/json.h"
#include "kaudit/jsonw.h"

/* The inner object of one response item: {"create":{...}} -> {...}. */
static bool item_body(struct ka_raw item, struct ka_raw *body)
{
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v;
    if (ka_json_type_of(item.p, item.n) != KA_JSON_OBJECT)
        return false;
    ka_json_iter_init(&it, item);
    if (!ka_json_iter_member(&it, &k, &v) || ka_json_type_of(v.p, v.n) != KA_JSON_OBJECT)
        return false;
    *body = v;
    return true;
}

/* "<type>: <reason>" of an error object, or its raw text. */
static void error_text(struct ka_raw err, char *dst, size_t dstlen)
{
    struct ka_raw type, reason;
    char t[64] = "", r[160] = "";
    if (ka_json_type_of(err.p, err.n) != KA_JSON_OBJECT) {
        ka_outh_json_text(err, dst, dstlen);
        return;
    }
    if (ka_outh_json_member(err, "type", &type))
        ka_outh_json_text(type, t, sizeof t);
    if (ka_outh_json_member(err, "reason", &reason))
        ka_outh_json_text(reason, r, sizeof r);
    snprintf(dst, dstlen, "%s%s%s", t, t[0] && r[0] ? ": " : "", r);
}

static void apply_item(struct ka_raw item, struct ka_out_item *out)
{
    struct ka_raw body, st, err;
    long long status = 0;
    if (!item_body(item, &body) || !ka_outh_json_member(body, "status", &st) ||
        !ka_outh_json_int(st, &status)) {
        ka_outh_set(out, KA_OUT_RETRY, "es: bulk item without a status");
        return;
    }
    if ((status >= 200 && status < 300) || status == 409) {
        ka_outh_set(out, KA_OUT_OK, "%s", status == 409 ? "es 409: already indexed" : "");
        return;
    }
    char why[150] = "";
    if (ka_outh_json_member(body, "error", &err))
        error_text(err, why, sizeof why);
    ka_outh_set(out, ka_outh_classify((long)status), "es %lld %s", status, why);
}

int ka_es_apply_bulk(const char *resp, size_t n, size_t nitems, struct ka_out_item *items)
{
    struct ka_json_err jerr;
    struct ka_raw root = {resp, (uint32_t)n}, arr;
    size_t nsent = 0;
    for (size_t i = 0; i < nitems; i++)
        nsent += items[i].result != KA_OUT_PERMANENT;
    if (n > UINT32_MAX || ka_json_validate(resp, n, KA_ES_RESP_MAX_DEPTH, &jerr) != KA_OK) {
        ka_outh_set_all(nitems, items, KA_OUT_RETRY, "es: bulk response is not JSON");
        return KA_OK;
    }
    root.p = ka_json_ws(resp, resp + n);
    root.n = (uint32_t)(n - (size_t)(root.p - resp));
    if (!ka_outh_json_member(root, "items", &arr) ||
        ka_json_type_of(arr.p, arr.n) != KA_JSON_ARRAY || ka_json_array_len(arr) != nsent) {
        ka_outh_set_all(nitems, items, KA_OUT_RETRY,
                        "es: bulk response does not have one item per document (%zu sent)",
                        nsent);
        return KA_OK;
    }
    struct ka_json_iter it;
    struct ka_raw item;
    ka_json_iter_init(&it, arr);
    for (size_t i = 0; i < nitems; i++) {
        if (items[i].result == KA_OUT_PERMANENT)
            continue;
        if (!ka_json_iter_elem(&it, &item))
            break; /* cannot happen: the count was checked */
        apply_item(item, &items[i]);
    }
    return KA_OK;
}

void ka_es_error_reason(const char *resp, size_t n, long status, char *dst, size_t dstlen)
{
    struct ka_json_err jerr;
    struct ka_raw root, err;
    char why[140] = "";
    if (n <= UINT32_MAX && ka_json_validate(resp, n, KA_ES_RESP_MAX_DEPTH, &jerr) == KA_OK) {
        root.p = ka_json_ws(resp, resp + n);
        root.n = (uint32_t)(n - (size_t)(root.p - resp));
        if (ka_outh_json_member(root, "error", &err))
            error_text(err, why, sizeof why);
    }
    if (!why[0])
        ka_outh_snippet(resp, n, why, sizeof why);
    snprintf(dst, dstlen, "es HTTP %ld%s%s", status, why[0] ? ": " : "", why);
}

static int put2(char *dst, size_t dstlen, size_t *j, unsigned v, unsigned width)
{
    char t[8];
    snprintf(t, sizeof t, width == 4 ? "%04u" : "%02u", v);
    size_t len = strlen(t);
    if (*j + len >= dstlen)
        return KA_ETOOBIG;
    memcpy(dst + *j, t, len);
    *j += len;
    return KA_OK;
}

int ka_es_index_name(const char *pattern, long long sec, char *dst, size_t dstlen)
{
    long long days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    ka_civil_from_days(days, &y, &mo, &d);
    size_t j = 0;
    int rc = KA_OK;
    for (const char *p = pattern; *p && !rc; p++) {
        if (*p != '%') {
            if (j + 1 >= dstlen)
                return KA_ETOOBIG;
            dst[j++] = *p;
            continue;
        }
        switch (*++p) {
        case 'Y': rc = put2(dst, dstlen, &j, (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y), 4); break;
        case 'm': rc = put2(dst, dstlen, &j, mo, 2); break;
        case 'd': rc = put2(dst, dstlen, &j, d, 2); break;
        case 'H': rc = put2(dst, dstlen, &j, (unsigned)(rem / 3600), 2); break;
        case '%':
            if (j + 1 >= dstlen)
                return KA_ETOOBIG;
            dst[j++] = '%';
            break;
        default: return KA_EINVAL;
        }
    }
    if (rc)
        return rc;
    dst[j] = '\0';
    return KA_OK;
}
