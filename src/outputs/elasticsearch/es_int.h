/*
 * es_int.h - internals of the Elasticsearch/OpenSearch output shared between its request side
 * (es.c) and its _bulk response parser (es_resp.c); exposed to the unit tests.
 */
#ifndef KAUDIT_OUTPUTS_ES_INT_H
#define KAUDIT_OUTPUTS_ES_INT_H

#include <stddef.h>

#include "kaudit/output.h"

/* Bulk responses are parsed up to this nesting depth (items are 4 deep; errors carry causes). */
#define KA_ES_RESP_MAX_DEPTH 64u

/*
 * Applies a _bulk response (HTTP 200) to items: the response's items[] are matched in order
 * with the items of the batch not already PERMANENT. Per item: 200/201 and 409 -> OK (409 is
 * the document created by an earlier try, since every action is a create with an _id),
 * 408/429/5xx -> RETRY, other 4xx -> PERMANENT "es <status> <type>: <reason>".
 * A response that is not JSON or whose item count differs from the number sent sets every item
 * RETRY. Always returns KA_OK (every item decided).
 */
int ka_es_apply_bulk(const char *resp, size_t n, size_t nitems, struct ka_out_item *items);

/* Writes the reason of an error answer ({"error":{"type","reason"},"status"}) or a snippet of
   the body into dst. */
void ka_es_error_reason(const char *resp, size_t n, long status, char *dst, size_t dstlen);

/*
 * Expands an index pattern with the UTC date of sec: %Y (4 digits), %m, %d, %H (2 digits) and
 * %%. Returns KA_OK, KA_EINVAL (another % sequence) or KA_ETOOBIG (dst too small).
 */
int ka_es_index_name(const char *pattern, long long sec, char *dst, size_t dstlen);

#endif
