/*
 * cmd_config.c - `kaudit config --defaults | --check FILE... | --reference`: the collector's
 * configuration file, documented and validated.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "kaudit/buf.h"
#include "kaudit/config.h"
#include "kaudit/err.h"

static const char *const usage_config =
    "usage: kaudit config --defaults | --check FILE... | --reference\n"
    "  --defaults   print the complete configuration file of `kaudit serve`: every key at its\n"
    "               default, with its meaning, type and bounds as a comment\n"
    "  --check      validate configuration files; every error is printed as\n"
    "               FILE:LINE:COL: key.path: message (unknown and duplicate keys, wrong types,\n"
    "               values out of range, settings that contradict each other)\n"
    "  --reference  print the key reference as a Markdown table (docs/config.md)\n\n"
    "example:\n  kaudit config --defaults > kaudit.yaml && kaudit config --check kaudit.yaml\n";

static void print_diag(const struct ka_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s%s\n", d->v[i].sev == KA_SEV_WARNING ? "warning: " : "",
                d->v[i].msg);
}

static int print_text(int reference)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    int rc = reference ? ka_cfg_write_reference(ka_cfg_serve_keys, &b)
                       : ka_cfg_write_defaults(ka_cfg_serve_keys, "kaudit serve configuration", &b);
    if (rc == KA_OK && b.n && fwrite(b.p, 1, b.n, stdout) != b.n)
        rc = KA_EIO;
    ka_buf_free(&b);
    if (rc)
        fprintf(stderr, "kaudit config: %s\n", ka_strerror(rc));
    return rc ? KA_EXIT_INTERNAL : KA_EXIT_OK;
}

static int check_one(const char *path)
{
    struct ka_diag d = {0};
    struct ka_cfg *c = NULL;
    int rc = ka_cfg_new(ka_cfg_serve_keys, &d, &c);
    rc = rc ? rc : ka_cfg_load_file(c, path, &d);
    rc = rc ? rc : ka_cfg_serve_check(c, &d);
    print_diag(&d);
    if (rc == KA_OK)
        printf("%s: ok%s\n", path, d.n_warnings ? " (with warnings)" : "");
    else if (d.n_errors == 0)
        fprintf(stderr, "%s: %s\n", path, ka_strerror(rc));
    ka_cfg_free(c);
    ka_diag_free(&d);
    return rc == KA_OK ? KA_EXIT_OK : rc == KA_ENOMEM ? KA_EXIT_INTERNAL : KA_EXIT_USAGE;
}

int ka_cmd_config(int argc, char **argv)
{
    static const struct option lo[] = {{"defaults", no_argument, 0, 'd'},
                                       {"check", no_argument, 0, 'c'},
                                       {"reference", no_argument, 0, 'r'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int mode = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_config, stdout);
            return KA_EXIT_OK;
        }
        if (c == '?' || (mode && mode != c)) {
            fputs(usage_config, stderr);
            return KA_EXIT_USAGE;
        }
        mode = c;
    }
    if (mode == 'd' || mode == 'r')
        return optind == argc ? print_text(mode == 'r')
                              : (fputs(usage_config, stderr), KA_EXIT_USAGE);
    if (mode != 'c' || optind >= argc) {
        fputs(usage_config, stderr);
        return KA_EXIT_USAGE;
    }
    int ret = KA_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        int r = check_one(argv[i]);
        if (r > ret)
            ret = r;
    }
    return ret;
}
