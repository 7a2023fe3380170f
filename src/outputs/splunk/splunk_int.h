/*
 * splunk_int.h - internals of the Splunk HEC output shared between its request side
 * (splunk.c) and its answer handling and indexer-acknowledgement polling (splunk_ack.c);
 * exposed to the unit tests.
 */
#ifndef KAUDIT_OUTPUTS_SPLUNK_INT_H
#define KAUDIT_OUTPUTS_SPLUNK_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "../http_common.h"

/* HEC answers are small; deeper JSON is not an answer we understand. */
#define KA_SPLUNK_RESP_MAX_DEPTH 16u

/*
 * Applies a non-200 answer to the items not already PERMANENT: 408/429/5xx RETRY; a 400 whose
 * body names "invalid-event-number": N makes the N-th sent event PERMANENT and the others
 * RETRY; other 4xx PERMANENT. Reasons carry Splunk's text and code.
 */
void ka_splunk_apply_error(const char *resp, size_t n, long status, size_t nitems,
                           struct ka_out_item *items);

/* The ackId of a 200 answer ({"text":"Success","code":0,"ackId":7}). */
bool ka_splunk_ack_id(const char *resp, size_t n, long long *id);

/* Reads an ack poll answer {"acks":{"7":true}}: 1 acked, 0 not yet, -1 not understood. */
int ka_splunk_acked(const char *resp, size_t n, long long id);

/*
 * Polls POST /services/collector/ack?channel=… with {"acks":[id]} every poll_ms until Splunk
 * answers true (every item OK) or timeout_ms passes (every item RETRY). Failed polls are
 * retried until the deadline. Returns KA_OK.
 */
int ka_splunk_wait_ack(struct ka_outh *h, const char *channel, long long id, long timeout_ms,
                       long poll_ms, size_t nitems, struct ka_out_item *items);

#endif
