/*
 * test_input.c - the input reader: JSON lines, CRLF, BOM, blank lines, gzip, documents spread
 * over several lines, EventList lines, the line-length maximum, and a last line without LF
 * (record.no_newline, which kaudit uses to warn about a line a crash cut). All inputs are
 * written by the test into a temporary directory.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kaudit/err.h"
#include "kaudit/input.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    dir = ka_t_tmpdir();
    cr_assert_not_null(dir);
}
static void teardown(void)
{
    ka_t_rmtree(dir);
    free(dir);
}
TestSuite(input, .init = setup, .fini = teardown);

static const char *write_file(const char *name, const char *data, size_t n, int gz)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (gz) {
        gzFile g = gzopen(path, "wb");
        cr_assert_not_null(g);
        cr_assert_eq(gzwrite(g, data, (unsigned)n), (int)n);
        gzclose(g);
    } else {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        fwrite(data, 1, n, f);
        fclose(f);
    }
    return path;
}

struct got {
    int n, errs;
    char text[16][256];
    unsigned long line[16];
    int nonl[16];
};

static void read_all(const char *path, const struct ka_input_opts *o, struct got *g)
{
    struct ka_input *in;
    cr_assert_eq(ka_input_open(path, o, &in), KA_OK);
    struct ka_record r;
    int rc;
    memset(g, 0, sizeof *g);
    while ((rc = ka_input_next(in, &r)) == 1) {
        cr_assert_lt(g->n, 16);
        if (r.err) {
            g->errs++;
            snprintf(g->text[g->n], 256, "ERR %d %s", r.err, r.msg);
        } else {
            snprintf(g->text[g->n], 256, "%.*s", (int)r.n, r.p);
        }
        g->nonl[g->n] = r.no_newline;
        g->line[g->n++] = r.line;
    }
    cr_assert_eq(rc, 0);
    ka_input_close(in);
}

#define EV(x) "{\"kind\":\"Event\",\"auditID\":\"" x "\"}"

Test(input, json_lines_crlf_bom_blank)
{
    static const char data[] = "\xef\xbb\xbf" EV("a") "\r\n\n  \n" EV("b") "\r\n" EV("c");
    struct got g;
    read_all(write_file("a.log", data, sizeof data - 1, 0), NULL, &g);
    cr_assert_eq(g.n, 3);
    cr_assert_str_eq(g.text[0], EV("a"));
    cr_assert_eq(g.line[0], 1);
    cr_assert_str_eq(g.text[1], EV("b") "\r", "CR is left for the scanner (whitespace)");
    cr_assert_eq(g.line[1], 4);
    cr_assert_str_eq(g.text[2], EV("c"), "a last line without LF is returned");
    cr_assert_eq(g.line[2], 5);
}

Test(input, gzip_is_transparent)
{
    static const char data[] = EV("a") "\n" EV("b") "\n";
    struct got g;
    read_all(write_file("a.log.gz", data, sizeof data - 1, 1), NULL, &g);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.text[1], EV("b"));
}

Test(input, pretty_printed_document)
{
    static const char data[] = "{\n  \"kind\": \"EventList\",\n  \"items\": [\n    "
                               "{\"auditID\": \"x\"},\n    {\"auditID\": \"y\"}\n  ]\n}\n";
    struct got g;
    read_all(write_file("doc.json", data, sizeof data - 1, 0), NULL, &g);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.text[0], "{\"auditID\": \"x\"}");
    cr_assert_eq(g.line[0], 4);
    cr_assert_eq(g.line[1], 5);
}

Test(input, eventlist_and_array_lines)
{
    static const char data[] =
        "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},"
        "\"items\":[" EV("a") "," EV("b") "]}\n[" EV("c") "]\n" EV("d") "\n";
    struct got g;
    read_all(write_file("list.log", data, sizeof data - 1, 0), NULL, &g);
    cr_assert_eq(g.n, 4);
    cr_assert_str_eq(g.text[0], EV("a"));
    cr_assert_str_eq(g.text[1], EV("b"));
    cr_assert_eq(g.line[1], 1);
    cr_assert_str_eq(g.text[2], EV("c"));
    cr_assert_eq(g.line[2], 2);
    cr_assert_str_eq(g.text[3], EV("d"));
}

Test(input, long_line_is_skipped_and_reading_goes_on)
{
    size_t big = 3u << 20;
    char *data = malloc(big + 200);
    size_t n = 0;
    n += (size_t)sprintf(data + n, "%s\n{\"auditID\":\"", EV("a"));
    memset(data + n, 'x', big);
    n += big;
    n += (size_t)sprintf(data + n, "\"}\n%s\n", EV("z"));
    struct ka_input_opts o = {.max_line = 1u << 20};
    struct got g;
    read_all(write_file("long.log", data, n, 0), &o, &g);
    free(data);
    cr_assert_eq(g.n, 3);
    cr_assert_str_eq(g.text[0], EV("a"));
    cr_assert(strncmp(g.text[1], "ERR -4 line longer than the maximum", 35) == 0, "%s",
              g.text[1]);
    cr_assert_eq(g.line[1], 2);
    cr_assert_str_eq(g.text[2], EV("z"));
    cr_assert_eq(g.line[2], 3);
}

Test(input, line_just_under_maximum_is_read)
{
    size_t max = 1u << 16;
    char *data = malloc(max + 64);
    size_t n = (size_t)sprintf(data, "{\"auditID\":\"");
    memset(data + n, 'y', max - n - 2);
    n = max - 2;
    memcpy(data + n, "\"}", 2);
    n += 2;
    data[n++] = '\n';
    struct ka_input_opts o = {.max_line = max};
    struct ka_input *in;
    cr_assert_eq(ka_input_open(write_file("edge.log", data, n, 0), &o, &in), KA_OK);
    struct ka_record r;
    cr_assert_eq(ka_input_next(in, &r), 1);
    cr_assert_eq(r.err, 0);
    cr_assert_eq(r.n, max);
    cr_assert_eq(ka_input_next(in, &r), 0);
    ka_input_close(in);
    free(data);
}

Test(input, missing_file)
{
    struct ka_input *in;
    cr_assert_eq(ka_input_open("/nonexistent/kaudit/x.log", NULL, &in), KA_ENOENT);
}

Test(input, broken_document_reports_line)
{
    static const char data[] = "[\n  {\"auditID\": \"x\"},\n  {\"auditID\": \"y\",,}\n]\n";
    struct got g;
    read_all(write_file("broken.json", data, sizeof data - 1, 0), NULL, &g);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.errs, 1);
    cr_assert_eq(g.line[0], 3, "the error points at the bad line");
}

Test(input, last_line_without_newline_is_flagged)
{
    /* A crash cut the last event: the reader returns it flagged, the caller decides. */
    static const char cut[] = EV("a") "\n" EV("b") "\n{\"kind\":\"Event\",\"audit";
    struct got g;
    read_all(write_file("cut.log", cut, sizeof cut - 1, 0), NULL, &g);
    cr_assert_eq(g.n, 3);
    cr_assert_eq(g.nonl[0] + g.nonl[1], 0, "complete lines are not flagged");
    cr_assert_eq(g.nonl[2], 1);
    cr_assert_eq(g.line[2], 3);
    cr_assert_str_eq(g.text[2], "{\"kind\":\"Event\",\"audit");
    /* The same in a gzip backup. */
    read_all(write_file("cut.log.gz", cut, sizeof cut - 1, 1), NULL, &g);
    cr_assert_eq(g.n, 3);
    cr_assert_eq(g.nonl[2], 1);
}

Test(input, complete_file_has_no_flag_and_complete_last_line_is_an_event)
{
    static const char ok[] = EV("a") "\n" EV("b") "\n";
    struct got g;
    read_all(write_file("ok.log", ok, sizeof ok - 1, 0), NULL, &g);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.nonl[0] + g.nonl[1], 0);
    static const char nolf[] = EV("a") "\n" EV("b");
    read_all(write_file("nolf.log", nolf, sizeof nolf - 1, 0), NULL, &g);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.errs, 0);
    cr_assert_str_eq(g.text[1], EV("b"));
    cr_assert_eq(g.nonl[1], 1, "flagged, but whole: the caller keeps it");
}

Test(input, cut_eventlist_last_line_is_an_error_record_flagged)
{
    static const char cut[] = EV("a") "\n{\"kind\":\"EventList\",\"items\":[" EV("b") ",";
    struct got g;
    read_all(write_file("cutlist.log", cut, sizeof cut - 1, 0), NULL, &g);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.errs, 1);
    cr_assert_eq(g.nonl[1], 1);
    cr_assert_eq(g.line[1], 2);
}

Test(input, long_last_line_without_newline_is_too_big_and_flagged)
{
    size_t big = 2u << 20;
    char *data = malloc(big + 100);
    size_t n = (size_t)sprintf(data, "%s\n{\"auditID\":\"", EV("a"));
    memset(data + n, 'q', big);
    n += big;
    struct ka_input_opts o = {.max_line = 1u << 20};
    struct got g;
    read_all(write_file("longcut.log", data, n, 0), &o, &g);
    free(data);
    cr_assert_eq(g.n, 2);
    cr_assert(strncmp(g.text[1], "ERR -4 ", 7) == 0, "%s", g.text[1]);
    cr_assert_eq(g.nonl[1], 1);
}

Test(input, lone_cut_line_is_a_flagged_line_not_a_document)
{
    /* A crash right after a rotation: the new file holds only the start of one event. */
    static const char cut[] = "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s";
    struct got g;
    read_all(write_file("lone.log", cut, sizeof cut - 1, 0), NULL, &g);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.errs, 0, "returned as a line for the caller to judge");
    cr_assert_eq(g.nonl[0], 1);
    cr_assert_str_eq(g.text[0], cut);
}
