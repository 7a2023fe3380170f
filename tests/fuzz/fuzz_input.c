/*
 * fuzz_input.c - libFuzzer target for the input reader (JSON lines, multi-line documents,
 * gzip). The input is put in a memfd and read back through /proc/self/fd/N with small limits
 * (max_line 4096, max_doc 65536); every record is scanned as an event. Invariants checked:
 * a good record has bytes, and for plain (not gzip) input those bytes occur in the input and
 * its line lies within the input's lines; line numbers never decrease; a record is never
 * larger than the limits; the reader always ends.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINE 4096u
#define MAX_DOC 65536u
#define MAX_RECORDS (1ul << 20)

struct src {
    const uint8_t *data;
    size_t size;
    int plain;           /* not gzip: records are substrings of data */
    unsigned long lines; /* number of lines in data */
};

static void check_record(const struct src *s, const struct ka_record *r, unsigned long prev)
{
    struct ka_event ev;
    struct ka_scan_err err;
    if (r->line < 1 || r->line < prev)
        abort(); /* line numbers start at 1 and never decrease */
    if (s->plain && r->line > s->lines)
        abort();
    if (r->err != 0)
        return;
    if (!r->p || r->n == 0 || r->n > MAX_DOC)
        abort();
    if (s->plain && !memmem(s->data, s->size, r->p, r->n))
        abort(); /* a record must be bytes that were read */
    (void)ka_event_scan(r->p, r->n, NULL, &ev, &err);
}

static void read_all(const struct src *s, const char *path)
{
    struct ka_input_opts o = {.max_line = MAX_LINE, .max_doc = MAX_DOC};
    struct ka_input *in = NULL;
    struct ka_record rec;
    unsigned long prev = 1, count = 0;
    if (ka_input_open(path, &o, &in) != KA_OK)
        abort();
    for (;;) {
        int rc = ka_input_next(in, &rec);
        if (rc <= 0)
            break;
        check_record(s, &rec, prev);
        prev = rec.line;
        if (++count > MAX_RECORDS || (s->plain && count > s->size))
            abort(); /* more records than bytes: the reader is looping */
    }
    ka_input_close(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct src s = {data, size, !(size >= 2 && data[0] == 0x1f && data[1] == 0x8b), 1};
    char path[64];
    for (size_t i = 0; i < size; i++)
        s.lines += data[i] == '\n';
    int fd = memfd_create("fuzz_input", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    read_all(&s, path);
    close(fd);
    return 0;
}
