/*
 * syslog_int.h - the syslog output's internals: its settings, the RFC 5424 formatter
 * (syslog_format.c) and the transports (syslog.c: TCP, TLS through GnuTLS, UDP).
 */
#ifndef KA_OUTPUTS_SYSLOG_INT_H
#define KA_OUTPUTS_SYSLOG_INT_H

#include <stddef.h>

#include "kaudit/buf.h"
#include "kaudit/output.h"

#define KA_SYSLOG_UDP_MAX 65507u

struct ka_syslog_cfg {
    int facility;         /* 0..23, default 13 (log audit) */
    int severity;         /* 0..7, default 6 (informational) */
    char hostname[256];   /* default: gethostname() */
    char app_name[49];    /* default "kaudit" */
    char msgid[33];       /* default "audit" */
    size_t max_size;      /* largest SYSLOG-MSG in bytes (default 65536; UDP at most 65507) */
};

/* Appends one SYSLOG-MSG (no framing) for e. */
int ka_syslog_message(const struct ka_syslog_cfg *c, const struct ka_out_event *e,
                      struct ka_buf *b);
/* Appends "LEN SP MSG" for each event; events over max_size are marked PERMANENT and left out.
   tmp is scratch space. */
int ka_syslog_format(const struct ka_syslog_cfg *c, const struct ka_out_batch *bt,
                     struct ka_buf *body, struct ka_buf *tmp, struct ka_out_item *items);

#endif
