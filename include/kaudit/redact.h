/*
 * redact.h - removes secrets from audit events before they are written anywhere.
 *
 * A redactor is built once from options (ka_redact_new) and is then read-only: one redactor can
 * serve any number of threads. ka_redact_write() appends the canonical encoding of an event
 * (exactly what ka_event_write() would write) with every selected value replaced by the string
 * "<redacted sha256:HHHHHHHHHHHH>", HHHHHHHHHHHH being the first 12 lowercase hex digits of the
 * SHA-256 of the value's exact bytes (a JSON string: its decoded bytes; any other JSON value:
 * its compact JSON text). Equal secrets thus give equal markers and can still be correlated.
 * In the canonical encoding the marker's `<` and `>` appear as \u003c and \u003e, as Go writes them.
 *
 * Redacted by default (docs/redaction.md has the exact rules):
 *   - Secret `data.*` and `stringData.*` values: in request/response objects of events on core
 *     `secrets` (the object, and each element of its `items`), in any object whose `kind` is
 *     "Secret", in each item of an object whose kind is "SecretList", and inside the
 *     kubectl.kubernetes.io/last-applied-configuration annotation of such objects;
 *   - JSON Patch bodies on secrets: the `value` of ops whose `path` is under /data or /stringData
 *     (and whole-object, /metadata and last-applied ops, walked as the Secret they describe);
 *   - TokenRequest `status.token` (events on serviceaccounts/token, objects of kind TokenRequest);
 *   - bearer tokens and JWTs inside the event's annotation values (the token only);
 *   - the configured JSON paths of the event's resource.
 * Empty strings and null are left as they are: there is nothing to hide in them.
 *
 * Limits: at most KA_REDACT_MAX_RULES rules and KA_REDACT_MAX_PATHS paths in all, each of at
 * most KA_REDACT_MAX_SEGS segments; last-applied-configuration annotations nested more than
 * KA_REDACT_MAX_NEST deep are replaced whole when their owner is a Secret.
 */
#ifndef KAUDIT_REDACT_H
#define KAUDIT_REDACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

#define KA_REDACT_MAX_RULES 256
#define KA_REDACT_MAX_PATHS 48
#define KA_REDACT_MAX_SEGS 32
#define KA_REDACT_MAX_NEST 4
/* Length of a marker string without quotes: "<redacted sha256:" + 12 hex + ">". */
#define KA_REDACT_MARKER_LEN 30

/*
 * Extra paths for one resource. resource is "RESOURCE[.GROUP][/SUBRESOURCE]" as kubectl names
 * it ("configmaps", "deployments.apps", "mycrd.example.com", "serviceaccounts/token"), or "*"
 * for every event. Without /SUBRESOURCE the rule matches the resource and all its subresources.
 * Path syntax (docs/redaction.md): segments separated by '.', `*` = every member of an object,
 * `[*]` = every element of an array, `\` escapes the next character: `data.*`,
 * `spec.credentials.password`, `items[*].data.*`, `metadata.annotations.example\.com/key`.
 * A path selects values in the request and response objects; when such an object's kind ends in
 * "List", the paths are applied to each element of its `items` as well.
 */
struct ka_redact_rule {
    const char *resource;
    const char *const *paths;
    size_t n_paths;
};

/* Zero-initialised options give the default: redaction on, built-in rules, no extra paths. */
struct ka_redact_opts {
    bool disabled;  /* turn redaction off entirely (ka_redact_write then only re-encodes) */
    bool no_bearer; /* do not look for bearer tokens / JWTs in annotations */
    const struct ka_redact_rule *rules;
    size_t n_rules;
};

struct ka_redact;

/*
 * Builds a redactor. Strings in opts are copied. KA_EINVAL for a bad resource or path (a
 * message naming rules[i].paths[j] is added to diag when diag is not NULL), KA_ETOOBIG above
 * the limits, KA_ENOMEM.
 */
int ka_redact_new(const struct ka_redact_opts *opts, struct ka_diag *diag, struct ka_redact **out);
void ka_redact_free(struct ka_redact *r);

/*
 * Appends the canonical encoding of ev (with wo's changes, which may be NULL) to out, redacted.
 * *changed tells whether any value was replaced. Returns KA_OK, KA_ENOMEM or KA_ETOOBIG; on
 * failure out is left as it was and the event must not be written unredacted.
 */
int ka_redact_write(const struct ka_redact *r, const struct ka_event *ev,
                    const struct ka_write_opts *wo, struct ka_buf *out, bool *changed);

/*
 * Like ka_redact_write without write options, but appends only when something was redacted:
 * with *changed == false nothing is appended and the caller writes ev as it is.
 */
int ka_redact_event(const struct ka_redact *r, const struct ka_event *ev, struct ka_buf *out,
                    bool *changed);

/* SHA-256 of [p, p+n) (FIPS 180-4). */
void ka_redact_sha256(const void *p, size_t n, uint8_t digest[32]);
/* Writes the marker for [p, p+n) (KA_REDACT_MARKER_LEN bytes, no quotes, no NUL) to m. */
void ka_redact_marker(const void *p, size_t n, char m[KA_REDACT_MARKER_LEN]);

#endif
