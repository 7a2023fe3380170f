/*
 * webhook_fx.h - the fixture of the collector's HTTP intake tests (test_webhook_server.c,
 * test_webhook_limits.c): a real journal in a temporary directory, the webhook server on a
 * loopback port, requests through libcurl or raw sockets, and the journal read back.
 */
#ifndef KA_WEBHOOK_FX_H
#define KA_WEBHOOK_FX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kaudit/config.h"
#include "kaudit/journal.h"
#include "kaudit/webhook_server.h"

#define EV(id, extra)                                                                              \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","               \
    "\"auditID\":\"" id "\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/pods\","       \
    "\"verb\":\"list\",\"user\":{\"username\":\"alice\"}" extra "}"

struct fx {
    char *dir;
    struct ka_cfg *cfg;
    struct ka_serve_cfg sc;
    struct ka_journal *j;
    struct ka_webhook_server *s;
    struct ka_webhook_sink real;
    int fail_rc; /* when non-zero, the sink refuses with this code */
    char base[96];
    char ca[512], cert[512], key[512]; /* client side TLS files, "" = none */
};

struct resp {
    long status;
    char body[512];
    size_t n;
    char retry_after[32];
};

/* Fixture lifecycle: a config, a journal and a started server on a free loopback port. */
void fx_init(struct fx *f);
void fx_set(struct fx *f, const char *key, const char *val);
int fx_start_rc(struct fx *f, const char *data_dir);
void fx_start(struct fx *f);
void fx_fini(struct fx *f);
/* One request: method NULL = POST; ctype NULL = none; token NULL = no Authorization. */
long req(struct fx *f, const char *method, const char *path, const char *ctype,
         const char *body, size_t n, const char *token, struct resp *r);
long post(struct fx *f, const char *path, const char *body, struct resp *r);
/* Every event in the journal, as a JSON array (caller frees). */
json_t *journal_events(struct fx *f);
const char *cluster_of(json_t *ev);
/* Raw loopback sockets: connect (-1 on failure), send everything (or, send_try, what the peer
   takes), read the answer's status within wait_ms (0: closed without answer, -1: nothing). */
int connect_port(unsigned port);
void send_all(int fd, const char *p, size_t n);
double now_s(void);
bool send_try(int fd, const char *p, size_t n);
int read_answer(int fd, int wait_ms, char *out, size_t cap);

#endif
