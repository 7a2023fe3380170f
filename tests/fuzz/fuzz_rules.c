/*
 * fuzz_rules.c - libFuzzer target for the detection rule loader, condition parser and
 * compiler. The input is split at the first NUL byte: before it a rules file (YAML), after it
 * an event line. A rules file either compiles or produces diagnostics; a compiled one is then
 * evaluated against the event (or a fixed one) in both rule matching modes, rendering every
 * alert as text and JSON. Never crashes, never leaks.
 */
#include <stdint.h>
#include <string.h>

#include "kaudit/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* Debian's libfyaml 0.7.12 leaks a buffer inside fy_token_get_text() for some quoted scalars;
   allocations made by libfyaml itself are ignored, kaudit's own leaks are still reported. */
const char *__lsan_default_suppressions(void)
{
    return "leak:libfyaml.so\n";
}

static const char EV[] =
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Request\","
    "\"auditID\":\"a1\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/pods?x=1\","
    "\"verb\":\"create\",\"user\":{\"username\":\"alice\",\"groups\":[\"g\"]},"
    "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"default\"},"
    "\"responseStatus\":{\"code\":201},\"requestObject\":{\"spec\":{\"containers\":"
    "[{\"image\":\"nginx\",\"securityContext\":{\"privileged\":true}}]}},"
    "\"stageTimestamp\":\"2024-01-02T03:04:05.123456Z\"}";

static int on_alert(void *ud, const struct ka_detect_match *m)
{
    struct ka_buf *b = ud;
    ka_buf_reset(b);
    (void)ka_detect_format_json(m, b);
    ka_buf_reset(b);
    (void)ka_detect_format_text(m, b);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nul = memchr(p, '\0', size);
    size_t rn = nul ? (size_t)(nul - p) : size;
    const char *ev = nul ? nul + 1 : EV;
    size_t en = nul ? size - rn - 1 : sizeof(EV) - 1;
    for (int mode = 0; mode < 2; mode++) {
        struct ka_detect_opts o;
        ka_detect_opts_default(&o);
        o.matching = mode ? KA_DETECT_ALL : KA_DETECT_FIRST;
        o.hostname = "fuzz";
        struct ka_detect *d = NULL;
        struct ka_diag diag = {0};
        struct ka_detect_ctx *c = NULL;
        struct ka_buf b;
        ka_buf_init(&b, 1u << 20);
        if (ka_detect_new(&o, &d) == KA_OK && ka_detect_load_mem(d, "f.yaml", p, rn, &diag) == 0 &&
            ka_detect_compile(d, &diag) == KA_OK && ka_detect_ctx_new(d, &c) == KA_OK) {
            (void)ka_detect_eval_line(c, ev, en, on_alert, &b);
            (void)ka_detect_eval_line(c, EV, sizeof(EV) - 1, on_alert, &b);
        }
        ka_buf_free(&b);
        ka_detect_ctx_free(c);
        ka_diag_free(&diag);
        ka_detect_free(d);
    }
    return 0;
}
