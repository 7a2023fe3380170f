/*
 * syslog_format.c - audit events as RFC 5424 syslog messages, framed with octet counting
 * (RFC 6587 §3.4.1 / RFC 5425 §4.3): "MSG-LEN SP SYSLOG-MSG" per event.
 *
 * SYSLOG-MSG = "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA SP MSG" where
 * PRI = facility*8 + severity, TIMESTAMP = the event's stageTimestamp in UTC with microseconds
 * (NILVALUE when absent), PROCID "-", STRUCTURED-DATA "-" and MSG the event's JSON line.
 * A message longer than max_size is never truncated: the event is PERMANENT (dead letter).
 */
#include <stdio.h>
#include <string.h>

#include "kaudit/jsonw.h"
#include "syslog_int.h"

/* Copies s as a header field: printable US-ASCII only (others become '_'), at most max, "-" if
   empty. */
static int put_field(struct ka_buf *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0) return ka_buf_putc(b, '-');
    if (n > max) n = max;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char out = '_';
        if (c >= 33 && c <= 126) out = s[i];
        int rc = ka_buf_putc(b, out);
        if (rc) return rc;
    }
    return KA_OK;
}

int ka_syslog_message(const struct ka_syslog_cfg *c, const struct ka_out_event *e,
                      struct ka_buf *b)
{
    const struct ka_time *t = &e->ev->stageTimestamp;
    int rc = ka_buf_printf(b, "<%d>1 ", c->facility * 8 + c->severity);
    if (!rc && t->set) {
        size_t m = b->n;
        rc = ka_jw_microtime(b, t->sec, t->nsec); /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" quoted */
        if (!rc) {
            memmove(b->p + m, b->p + m + 1, b->n - m - 2);
            b->n -= 2;
        }
    } else if (!rc) {
        rc = ka_buf_putc(b, '-');
    }
    rc = rc ? rc : ka_buf_putc(b, ' ');
    rc = rc ? rc : put_field(b, c->hostname, 255);
    rc = rc ? rc : ka_buf_putc(b, ' ');
    rc = rc ? rc : put_field(b, c->app_name, 48);
    rc = rc ? rc : ka_buf_puts(b, " - ");
    rc = rc ? rc : put_field(b, c->msgid, 32);
    rc = rc ? rc : ka_buf_puts(b, " - ");
    return rc ? rc : ka_buf_append(b, e->line, e->len);
}

int ka_syslog_format(const struct ka_syslog_cfg *c, const struct ka_out_batch *bt,
                     struct ka_buf *body, struct ka_buf *tmp, struct ka_out_item *items)
{
    for (size_t i = 0; i < bt->n; i++) {
        ka_buf_reset(tmp);
        int rc = ka_syslog_message(c, &bt->ev[i], tmp);
        if (rc == KA_ENOMEM) return rc;
        if (rc || tmp->n > c->max_size) {
            items[i].result = KA_OUT_PERMANENT;
            snprintf(items[i].reason, sizeof items[i].reason,
                     "syslog message of %zu bytes over max_size %zu (not truncated)",
                     rc ? (size_t)0 : tmp->n, c->max_size);
            continue;
        }
        rc = ka_buf_printf(body, "%zu ", tmp->n);
        rc = rc ? rc : ka_buf_append(body, tmp->p, tmp->n);
        if (rc) return rc;
    }
    return KA_OK;
}
