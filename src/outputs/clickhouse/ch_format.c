/*
 * ch_format.c - one audit event as one ClickHouse JSONEachRow row: the typed columns of the
 * schema (ch_schema.c) read from the event's scan, plus the raw event as a string.
 *
 * Strings are copied still escaped: the event's JSON escapes are valid in JSONEachRow too.
 * Times: `time` (DateTime, seconds) and `time_us` come from requestReceivedTimestamp (or
 * stageTimestamp when it is missing), `stage_time_us` from stageTimestamp; 0 when absent.
 */
#include <string.h>

#include "ch.h"
#include "kaudit/json.h"
#include "kaudit/jsonw.h"

static int put_str(struct ka_buf *b, const char *key, struct ka_str s)
{
    int rc = ka_buf_printf(b, ",\"%s\":\"", key);
    if (!rc && s.set) rc = ka_buf_append(b, s.p, s.n);
    return rc ? rc : ka_buf_putc(b, '"');
}

/* An array of strings, compacted; [] when absent. */
static int put_arr(struct ka_buf *b, const char *key, struct ka_raw r)
{
    int rc = ka_buf_printf(b, ",\"%s\":", key);
    if (rc) return rc;
    return r.p ? ka_jw_compact(b, r.p, r.n) : ka_buf_puts(b, "[]");
}

static int64_t us_of(const struct ka_time *t)
{
    return t->set ? t->sec * 1000000 + t->nsec / 1000 : 0;
}

/* The authorization decision annotation ("allow" / "forbid"), or an unset string. */
static struct ka_str decision_of(const struct ka_event *ev)
{
    struct ka_str none = {0};
    if (!ev->annotations.p) return none;
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v;
    ka_json_iter_init(&it, ev->annotations);
    while (ka_json_iter_member(&it, &k, &v))
        if (ka_str_eq(k, "authorization.k8s.io/decision", 29) && v.p && v.p[0] == '"')
            return ka_str_from_raw(v.p, v.n);
    return none;
}

int ka_ch_row(const struct ka_out_event *e, const char *cluster, struct ka_buf *b)
{
    const struct ka_event *ev = e->ev;
    const struct ka_time *rt = ev->requestReceivedTimestamp.set ? &ev->requestReceivedTimestamp
                                                                 : &ev->stageTimestamp;
    const struct ka_objref *o = &ev->objectRef;
    int rc = ka_buf_printf(b, "{\"time\":%lld,\"time_us\":%lld,\"stage_time_us\":%lld",
                           (long long)(rt->set ? rt->sec : 0), (long long)us_of(rt),
                           (long long)us_of(&ev->stageTimestamp));
    rc = rc ? rc : put_str(b, "stage", ev->stage);
    rc = rc ? rc : put_str(b, "level", ev->level);
    rc = rc ? rc : put_str(b, "audit_id", ev->auditID);
    rc = rc ? rc : put_str(b, "verb", ev->verb);
    rc = rc ? rc : put_str(b, "user", ev->user.username);
    rc = rc ? rc : put_arr(b, "groups", ev->user.groups);
    rc = rc ? rc : put_str(b, "api_group", o->apiGroup);
    rc = rc ? rc : put_str(b, "resource", o->resource);
    rc = rc ? rc : put_str(b, "subresource", o->subresource);
    rc = rc ? rc : put_str(b, "namespace", o->namespace_);
    rc = rc ? rc : put_str(b, "name", o->name);
    int code = ev->responseStatus.has_code ? ev->responseStatus.code : 0;
    if (code < 0 || code > 65535) code = 0;
    rc = rc ? rc : ka_buf_printf(b, ",\"code\":%d", code);
    rc = rc ? rc : put_str(b, "decision", decision_of(ev));
    rc = rc ? rc : put_arr(b, "source_ips", ev->sourceIPs);
    rc = rc ? rc : put_str(b, "user_agent", ev->userAgent);
    rc = rc ? rc : ka_buf_puts(b, ",\"cluster\":");
    rc = rc ? rc : ka_jw_str(b, cluster, strlen(cluster));
    rc = rc ? rc : ka_buf_puts(b, ",\"raw\":");
    rc = rc ? rc : ka_jw_str(b, e->line, e->len);
    return rc ? rc : ka_buf_puts(b, "}\n");
}
