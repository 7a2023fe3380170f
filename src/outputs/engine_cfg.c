/*
 * engine_cfg.c - the forwarding engine's per-output settings: defaults, and "key=value" options
 * from the config file or `kaudit ship --option`.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "outputs_int.h"

void ka_forward_cfg_default(struct ka_forward_output_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->batch_bytes = 8u << 20;
    c->batch_ms = 1000;
    c->concurrency = 1;
    c->backoff_min_ms = 200;
    c->backoff_max_ms = 30000;
    c->commit_ms = 1000;
    c->out.timeout_ms = 10000;
}

struct ka_fwd_intopt {
    const char *key;
    size_t off;
    int is_size;
    unsigned long long max;
};

#define FWD_OFF(m) offsetof(struct ka_forward_output_cfg, m)
static const struct ka_fwd_intopt ka_fwd_intopts[] = {
    {"batch_events", FWD_OFF(batch_events), 1, 1000000},
    {"batch_bytes", FWD_OFF(batch_bytes), 1, 1ull << 30},
    {"batch_ms", FWD_OFF(batch_ms), 0, 3600000},
    {"concurrency", FWD_OFF(concurrency), 0, KA_FWD_MAX_WORKERS},
    {"retries", FWD_OFF(max_retries), 0, 1000000000},
    {"backoff_min_ms", FWD_OFF(backoff_min_ms), 0, 3600000},
    {"backoff_max_ms", FWD_OFF(backoff_max_ms), 0, 86400000},
    {"commit_ms", FWD_OFF(commit_ms), 0, 3600000},
    {"timeout_ms", FWD_OFF(out.timeout_ms), 0, 3600000},
    {"max_event", FWD_OFF(out.max_event), 1, 1ull << 30},
};

static int set_int(struct ka_forward_output_cfg *c, const struct ka_fwd_intopt *o, const char *v)
{
    unsigned long long x;
    if (ka_out_uint(v, o->max, &x)) return KA_EINVAL;
    char *p = (char *)c + o->off;
    if (o->is_size) {
        size_t s = (size_t)x;
        memcpy(p, &s, sizeof s);
    } else {
        int i = (int)x;
        memcpy(p, &i, sizeof i);
    }
    return KA_OK;
}

int ka_forward_cfg_option(struct ka_forward_output_cfg *c, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq) return KA_EINVAL;
    size_t kn = (size_t)(eq - kv);
    const char *v = eq + 1;
    for (size_t i = 0; i < sizeof ka_fwd_intopts / sizeof ka_fwd_intopts[0]; i++)
        if (strlen(ka_fwd_intopts[i].key) == kn && !memcmp(kv, ka_fwd_intopts[i].key, kn))
            return set_int(c, &ka_fwd_intopts[i], v);
#define FWD_KEY(k) (kn == sizeof(k) - 1 && !memcmp(kv, k, kn))
    if (FWD_KEY("dead_letter")) c->dead_letter = v;
    else if (FWD_KEY("policy")) c->policy_file = v;
    else if (FWD_KEY("name")) c->name = v;
    else if (FWD_KEY("ca")) c->out.ca_file = v;
    else if (FWD_KEY("cert")) c->out.cert_file = v;
    else if (FWD_KEY("key")) c->out.key_file = v;
    else if (FWD_KEY("insecure")) {
        int b = ka_out_bool(v, -1);
        if (b < 0) return KA_EINVAL;
        c->out.insecure = b;
    } else return KA_ENOENT;
#undef FWD_KEY
    return KA_OK;
}
