/*
 * fuzz_policy.c - libFuzzer target for the audit policy loader (YAML/JSON -> compiled policy).
 * Every input must either load or produce diagnostics; a loaded policy is then evaluated
 * against a few fixed request attributes. Never crashes, never leaks.
 */
#include <stdint.h>
#include <string.h>

#include "kaudit/err.h"
#include "kaudit/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* Debian's libfyaml 0.7.12 leaks a buffer it reallocates inside fy_token_get_text() for some
   quoted scalars (e.g. a single-quoted run of escaped quotes: ''''''''''''').
   The leak is inside the library and cannot be avoided from here, so LeakSanitizer is told to
   ignore allocations made by libfyaml itself; leaks of kaudit's own memory are still reported. */
const char *__lsan_default_suppressions(void)
{
    return "leak:libfyaml.so\n";
}

static struct ka_str lit(const char *s)
{
    struct ka_str r = {s, (uint32_t)strlen(s), 1, 0};
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ka_diag d = {0};
    struct ka_policy *p = NULL;
    for (unsigned strict = 0; strict < 2; strict++) {
        if (ka_policy_load_mem("fuzz.yaml", (const char *)data, size,
                               strict ? KA_POLICY_STRICT : 0, &d, &p) == 0) {
            static const char groups[] = "[\"system:authenticated\",\"developers\"]";
            struct ka_attrs a = {
                .has_user = true,
                .user = lit("alice"),
                .groups = {groups, sizeof groups - 1},
                .verb = lit("get"),
                .resource_request = true,
                .namespace_ = lit("default"),
                .resource = lit("pods"),
                .subresource = lit("log"),
                .name = lit("web-0"),
                .path = lit("/api/v1/namespaces/default/pods/web-0/log"),
            };
            struct ka_decision dec;
            ka_policy_eval(p, &a, &dec);
            a.resource_request = false;
            a.has_user = false;
            a.path = lit("/healthz");
            ka_policy_eval(p, &a, &dec);
            (void)ka_policy_rule_count(p);
            ka_policy_free(p);
            p = NULL;
        }
        ka_diag_free(&d);
    }
    return 0;
}
