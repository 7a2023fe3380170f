/*
 * files.c - the collector's file inputs: one follower thread per configured audit log path.
 * Lines go through the webhook pipeline one at a time (ka_wh_encode_event) and reach the
 * journal in batches (ka_wh_commit); the follower's checkpoint is committed only after the
 * batch is durable. A batch the journal refuses is kept and retried, reading pauses meanwhile.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../webhook/webhook_int.h"
#include "files_input.h"
#include "kaudit/tail.h"

#define NAME_MAX_CHARS 200 /* sanitised path kept in a checkpoint file name */
#define RETRY_MS 1000      /* wait after the journal refused a batch */
#define STEP_MS 100        /* longest wait before the stop flag is checked again */

struct follower {
    struct ka_files_input *f;
    const char *path, *cluster;
    bool from_start;
    char *ckpt, *remote;
    struct ka_tail *t;
    pthread_t th;
    bool started, failing;
    struct ka_buf out, dead;
    struct ka_wh_result res;
    uint64_t first_ns; /* when the oldest pending line was read */
};

struct ka_files_input {
    struct ka_webhook_server *s;
    ka_files_log_fn log;
    void *log_ud;
    atomic_bool stop;
    size_t n;
    struct follower v[KA_FILES_MAX_INPUTS];
};

__attribute__((format(printf, 3, 4))) static void logf_(struct ka_files_input *f, enum ka_sev sev,
                                                        const char *fmt, ...)
{
    if (!f->log) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    f->log(f->log_ud, sev, msg);
}

static void on_report(void *ud, enum ka_tail_report kind, uint64_t bytes, const char *msg)
{
    struct follower *fw = ud;
    (void)bytes;
    if (kind == KA_TAIL_R_ROTATED) return; /* routine; counted by the follower */
    logf_(fw->f, kind == KA_TAIL_R_RESUMED ? KA_SEV_NOTE : KA_SEV_WARNING, "file input %s: %s",
          fw->path, msg);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ---- one follower ---- */

static void reset_pending(struct follower *fw)
{
    ka_buf_reset(&fw->out);
    ka_buf_reset(&fw->dead);
    memset(&fw->res, 0, sizeof fw->res);
}

/* Appends what is pending, then commits the checkpoint. Returns 0, or -1 when refused. */
static int flush(struct follower *fw)
{
    struct ka_webhook_server *s = fw->f->s;
    size_t items = fw->res.n_items;
    if (items == 0) return 0;
    ka_wh_commit(s, &fw->out, &fw->dead, &fw->res);
    if (fw->res.status != 200) {
        if (!fw->failing)
            logf_(fw->f, KA_SEV_WARNING, "file input %s: %zu lines not appended (%s); retrying",
                  fw->path, items, fw->res.reason);
        fw->failing = true;
        return -1;
    }
    if (fw->failing) logf_(fw->f, KA_SEV_NOTE, "file input %s: appending again", fw->path);
    fw->failing = false;
    atomic_fetch_add(&s->m.received, items);
    int rc = ka_tail_commit(fw->t);
    if (rc != KA_OK)
        logf_(fw->f, KA_SEV_WARNING,
              "file input %s: checkpoint %s not written (%s): "
              "these lines would be read again after a restart",
              fw->path, fw->ckpt, ka_strerror(rc));
    reset_pending(fw);
    return 0;
}

/* A batch is due when it is full or its oldest line waited KA_FILES_BATCH_MS. */
static bool batch_due(const struct follower *fw, uint64_t now)
{
    if (fw->res.n_items == 0) return false;
    return fw->res.n_items >= KA_FILES_BATCH_EVENTS || fw->out.n >= KA_FILES_BATCH_BYTES ||
           now - fw->first_ns >= (uint64_t)KA_FILES_BATCH_MS * 1000000u;
}

/* How long to wait for the next line: until the pending batch is due, at most STEP_MS. */
static int wait_ms(const struct follower *fw, uint64_t now)
{
    if (fw->res.n_items == 0) return STEP_MS;
    uint64_t due = fw->first_ns + (uint64_t)KA_FILES_BATCH_MS * 1000000u;
    if (due <= now) return 0;
    uint64_t ms = (due - now + 999999u) / 1000000u;
    return ms < STEP_MS ? (int)ms : STEP_MS;
}

/* Reads one line (or times out) into the pending batch. Returns 0, or <0 to stop. */
static int read_one(struct follower *fw, uint64_t now)
{
    struct ka_tail_rec rec;
    int rc = ka_tail_next(fw->t, &rec, wait_ms(fw, now));
    if (rc == 0) return 0;
    if (rc < 0) {
        logf_(fw->f, KA_SEV_ERROR, "file input %s: %s; retrying in 1 s", fw->path, ka_strerror(rc));
        sleep_ms(RETRY_MS);
        return 0;
    }
    if (fw->res.n_items == 0) fw->first_ns = now;
    rc = ka_wh_encode_event(fw->f->s, rec.line, rec.len, fw->cluster, fw->remote, &fw->out,
                            &fw->dead, &fw->res);
    if (rc != KA_OK) {
        logf_(fw->f, KA_SEV_ERROR,
              "file input %s: %s; input stopped (nothing after the last "
              "checkpoint is acknowledged)",
              fw->path, ka_strerror(rc));
        return rc;
    }
    return 0;
}

static void *follow(void *arg)
{
    struct follower *fw = arg;
    while (!atomic_load(&fw->f->stop)) {
        uint64_t now = ka_wh_now_ns();
        if (batch_due(fw, now) && flush(fw) != 0) {
            for (int i = 0; i < RETRY_MS / STEP_MS && !atomic_load(&fw->f->stop); i++)
                sleep_ms(STEP_MS);
            continue;
        }
        if (read_one(fw, now) < 0) return NULL;
    }
    flush(fw); /* once: what is still refused is read again after the restart */
    return NULL;
}

/* ---- setup ---- */

/* <data_dir>/checkpoints/<path with every byte outside [A-Za-z0-9._-] as '_'>.ckpt */
static int checkpoint_path(const char *data_dir, const char *path, char **out)
{
    struct ka_buf b;
    ka_buf_init(&b, 4096 + NAME_MAX_CHARS + 32);
    int rc = ka_buf_printf(&b, "%s/checkpoints", data_dir);
    if (rc == KA_OK && mkdir(ka_buf_cstr(&b), 0700) != 0 && errno != EEXIST) rc = KA_EIO;
    rc = rc ? rc : ka_buf_puts(&b, "/");
    size_t len = strlen(path);
    for (size_t i = 0; rc == KA_OK && i < len && i < NAME_MAX_CHARS; i++) {
        char c = path[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-';
        rc = ka_buf_printf(&b, "%c", keep ? c : '_');
    }
    if (rc == KA_OK && len > NAME_MAX_CHARS) { /* keep long paths apart: FNV-1a of the rest */
        uint64_t h = 1469598103934665603u;
        for (size_t i = NAME_MAX_CHARS; i < len; i++)
            h = (h ^ (unsigned char)path[i]) * 1099511628211u;
        rc = ka_buf_printf(&b, "-%016llx", (unsigned long long)h);
    }
    rc = rc ? rc : ka_buf_puts(&b, ".ckpt");
    if (rc == KA_OK && !ka_buf_cstr(&b)) rc = KA_ENOMEM;
    if (rc != KA_OK) {
        ka_buf_free(&b);
        return rc;
    }
    *out = b.p;
    return KA_OK;
}

static int init_follower(struct ka_files_input *f, const struct ka_serve_cfg *sc, size_t i)
{
    const struct ka_serve_input *in = (const struct ka_serve_input *)sc->inputs.v + i;
    struct follower *fw = &f->v[i];
    fw->f = f;
    fw->path = in->path;
    fw->from_start = in->from_start;
    fw->cluster = in->cluster && in->cluster[0] ? in->cluster
                  : sc->default_cluster         ? sc->default_cluster
                                                : "";
    ka_buf_init(&fw->out, 0);
    ka_buf_init(&fw->dead, 0);
    if (fw->cluster[0] && !ka_wh_cluster_name_ok(fw->cluster, strlen(fw->cluster))) {
        logf_(f, KA_SEV_ERROR, "file input %s: bad cluster name '%s'", fw->path, fw->cluster);
        return KA_EINVAL;
    }
    int rc = checkpoint_path(sc->data_dir, in->path, &fw->ckpt);
    if (rc) {
        logf_(f, KA_SEV_ERROR, "file input %s: cannot make %s/checkpoints: %s", fw->path,
              sc->data_dir, ka_strerror(rc));
        return rc;
    }
    for (size_t k = 0; k < i; k++)
        if (strcmp(f->v[k].ckpt, fw->ckpt) == 0) {
            logf_(f, KA_SEV_ERROR, "file inputs %s and %s would share the checkpoint %s",
                  f->v[k].path, fw->path, fw->ckpt);
            return KA_EINVAL;
        }
    size_t n = strlen(in->path) + sizeof "file:";
    fw->remote = malloc(n);
    if (!fw->remote) return KA_ENOMEM;
    snprintf(fw->remote, n, "file:%s", in->path);
    return KA_OK;
}

static int open_follower(struct follower *fw)
{
    struct ka_tail_opts o = {.path = fw->path,
                             .checkpoint_path = fw->ckpt,
                             .from_start = fw->from_start,
                             .with_backups = fw->from_start,
                             .report = on_report,
                             .report_ud = fw};
    int rc = ka_tail_open(&o, &fw->t);
    if (rc) {
        logf_(fw->f, KA_SEV_ERROR, "file input %s: cannot follow it (checkpoint %s): %s", fw->path,
              fw->ckpt, ka_strerror(rc));
        return rc;
    }
    if (pthread_create(&fw->th, NULL, follow, fw) != 0) {
        logf_(fw->f, KA_SEV_ERROR, "file input %s: cannot start a thread", fw->path);
        return KA_ENOMEM;
    }
    fw->started = true;
    logf_(fw->f, KA_SEV_NOTE, "following %s (cluster '%s', checkpoint %s)", fw->path, fw->cluster,
          fw->ckpt);
    return KA_OK;
}

int ka_files_start(struct ka_webhook_server *s, const struct ka_serve_cfg *sc, ka_files_log_fn log,
                   void *log_ud, struct ka_files_input **out)
{
    struct ka_files_input *f = calloc(1, sizeof *f);
    if (!f) return KA_ENOMEM;
    f->s = s;
    f->log = log;
    f->log_ud = log_ud;
    atomic_init(&f->stop, false);
    int rc = KA_OK;
    if (sc->inputs.n > KA_FILES_MAX_INPUTS) {
        logf_(f, KA_SEV_ERROR, "inputs.files: at most %d paths", KA_FILES_MAX_INPUTS);
        rc = KA_EINVAL;
    }
    for (size_t i = 0; rc == KA_OK && i < sc->inputs.n; i++) {
        f->n = i + 1;
        rc = init_follower(f, sc, i);
    }
    for (size_t i = 0; rc == KA_OK && i < f->n; i++)
        rc = open_follower(&f->v[i]);
    if (rc != KA_OK) {
        ka_files_stop(f);
        return rc;
    }
    *out = f;
    return KA_OK;
}

void ka_files_stop(struct ka_files_input *f)
{
    if (!f) return;
    atomic_store(&f->stop, true);
    for (size_t i = 0; i < f->n; i++) {
        struct follower *fw = &f->v[i];
        if (fw->started) pthread_join(fw->th, NULL);
        ka_tail_close(fw->t);
        ka_buf_free(&fw->out);
        ka_buf_free(&fw->dead);
        free(fw->ckpt);
        free(fw->remote);
    }
    free(f);
}
