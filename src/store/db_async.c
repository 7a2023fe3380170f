/*
 * db_async.c - commits, synchronous and pipelined. The pipelined mode keeps two batches: the
 * caller fills one (decoding, canonical encoding, compression) while a writer thread commits
 * the other, so that on two cores reading and writing overlap. The SQLite connection is used
 * by one thread at a time: the writer while a batch is in flight, the caller otherwise.
 *
 * A batch the writer could not commit is kept (s->async_failed) and its error reported by the
 * next ka_store_sync; the following ka_store_sync or ka_store_commit_async commits it again,
 * synchronously, before anything else, so that no batch is lost and batches land in order
 * (the journal consumer commits its cursor only after a batch and all before it landed).
 *
 * Compression goes to whichever thread has time: the caller compresses a batch's blocks as
 * they close, unless the writer of a bulk load that defers its indexes was idle when the
 * previous batch came (s->writer_packs).
 *
 * A bulk load's writer leaves its transaction open over several batches (db_write.c):
 * ka_store_sync and ka_store_commit commit it, so a batch has landed when they return.
 */
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

static void *writer(void *arg)
{
    struct ka_store *s = arg;
    pthread_mutex_lock(&s->async_mu);
    for (;;) {
        while (!s->async_b && !s->async_stop)
            pthread_cond_wait(&s->async_cv, &s->async_mu);
        if (!s->async_b)
            break;
        struct db_batch *b = s->async_b;
        pthread_mutex_unlock(&s->async_mu);
        struct ka_store_commit_stats cs = {0, 0};
        int rc = db_commit_batch(s, b, &cs);
        pthread_mutex_lock(&s->async_mu);
        if (rc && !s->async_rc)
            s->async_rc = rc;
        if (rc) /* kept, retried by the next sync or commit_async */
            s->async_failed = b;
        s->async_acc.inserted += cs.inserted;
        s->async_acc.duplicates += cs.duplicates;
        s->async_b = NULL;
        s->async_busy = false;
        pthread_cond_broadcast(&s->async_cv);
    }
    pthread_mutex_unlock(&s->async_mu);
    return NULL;
}

static int start(struct ka_store *s)
{
    if (s->async_started)
        return KA_OK;
    pthread_mutex_init(&s->async_mu, NULL);
    pthread_cond_init(&s->async_cv, NULL);
    if (pthread_create(&s->async_th, NULL, writer, s) != 0) {
        pthread_cond_destroy(&s->async_cv);
        pthread_mutex_destroy(&s->async_mu);
        return KA_ENOMEM;
    }
    s->async_started = true;
    return KA_OK;
}

/* Waits until no batch is in flight; whether there was one. */
static bool wait_idle(struct ka_store *s)
{
    if (!s->async_started)
        return false;
    pthread_mutex_lock(&s->async_mu);
    bool waited = s->async_busy;
    while (s->async_busy)
        pthread_cond_wait(&s->async_cv, &s->async_mu);
    pthread_mutex_unlock(&s->async_mu);
    return waited;
}

void db_async_stop(struct ka_store *s)
{
    if (!s->async_started)
        return;
    wait_idle(s);
    pthread_mutex_lock(&s->async_mu);
    s->async_stop = true;
    pthread_cond_broadcast(&s->async_cv);
    pthread_mutex_unlock(&s->async_mu);
    pthread_join(s->async_th, NULL);
    pthread_cond_destroy(&s->async_cv);
    pthread_mutex_destroy(&s->async_mu);
    s->async_started = false;
}

/* Commits the batch that failed in the writer, if any (the caller's thread, nothing in
 * flight). */
static int retry_failed(struct ka_store *s)
{
    struct db_batch *b = s->async_failed;
    if (!b)
        return KA_OK;
    struct ka_store_commit_stats cs = {0, 0};
    int rc = db_commit_batch(s, b, &cs);
    if (rc)
        return rc;
    s->async_failed = NULL;
    s->async_acc.inserted += cs.inserted;
    s->async_acc.duplicates += cs.duplicates;
    return KA_OK;
}

int ka_store_commit(struct ka_store *s, struct ka_store_commit_stats *st)
{
    if (s->o.readonly)
        return KA_EINVAL;
    wait_idle(s);
    int rc = retry_failed(s);
    rc = rc ? rc : db_commit_batch(s, s->fill, st);
    return rc ? rc : db_txn_end(s);
}

int ka_store_commit_async(struct ka_store *s)
{
    struct db_batch *b = s->fill;
    if (s->o.readonly)
        return KA_EINVAL;
    int rc = db_batch_seal(s, b); /* compressed here, on the caller's thread (see below) */
    if (rc)
        return rc;
    /* what is not compressed yet, the writer compresses once the dictionary is settled */
    bool ready = db_batch_packed(b) || s->cdict || s->o.no_dict;
    bool waited = wait_idle(s);
    if (s->async_rc) /* an error not yet reported by ka_store_sync */
        return s->async_rc;
    rc = retry_failed(s);
    if (rc)
        return rc;
    if (!ready || b->n == 0) {
        struct ka_store_commit_stats cs = {0, 0};
        rc = db_commit_batch(s, b, &cs);
        s->async_acc.inserted += cs.inserted;
        s->async_acc.duplicates += cs.duplicates;
        return rc;
    }
    rc = start(s);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->async_mu);
    s->async_b = b;
    s->async_busy = true;
    s->fill = b == &s->bat[0] ? &s->bat[1] : &s->bat[0];
    /* Balance the two threads in a bulk load whose indexes wait for its end (the writer has
     * time to spare): a writer that was idle when this batch came compresses the blocks of
     * the next one itself; one that kept the caller waiting leaves that to the caller. A
     * writer that inserts into every index never does: it is the slower thread, and the
     * journal consumer ran 4-5% slower when its writer took the blocks of the batches that
     * followed a moment of idleness. */
    s->writer_packs = !waited && s->idx_dropped;
    pthread_cond_broadcast(&s->async_cv);
    pthread_mutex_unlock(&s->async_mu);
    return KA_OK;
}

bool ka_store_in_flight(struct ka_store *s)
{
    if (!s->async_started)
        return false;
    pthread_mutex_lock(&s->async_mu);
    bool busy = s->async_busy;
    pthread_mutex_unlock(&s->async_mu);
    return busy;
}

int ka_store_sync(struct ka_store *s, struct ka_store_commit_stats *st)
{
    wait_idle(s);
    int rc = s->async_rc;
    if (rc == 0 && s->async_failed)
        rc = retry_failed(s);
    int rc2 = db_txn_end(s); /* what landed is committed, even after an error */
    rc = rc ? rc : rc2;
    if (st)
        *st = s->async_acc;
    s->async_rc = 0;
    memset(&s->async_acc, 0, sizeof s->async_acc);
    return rc;
}
