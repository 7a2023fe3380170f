#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int ka_t_have_shared(void)
{
    struct stat st;
    return stat(KA_SHARED_DIR, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *ka_t_shared(const char *rel)
{
    static char path[4096];
    if (!ka_t_have_shared()) {
        cr_skip_test("../shared is absent (%s): test data not available", KA_SHARED_DIR);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/%s", KA_SHARED_DIR, rel);
    return path;
}

char *ka_t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

char *ka_t_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/kaudit-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpl))
        return NULL;
    return strdup(tmpl);
}

void ka_t_rmtree(const char *path)
{
    if (!path || strncmp(path, "/tmp/", 5) != 0)
        return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "rm -rf %s failed\n", path);
}

int ka_t_run(const char *args, const char *stdin_data, size_t stdin_len, char **out,
             size_t *out_len, char **err)
{
    char *dir = ka_t_tmpdir();
    if (!dir)
        return -1;
    char in_path[4200], out_path[4200], err_path[4200], cmd[16384];
    snprintf(in_path, sizeof in_path, "%s/stdin", dir);
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    FILE *f = fopen(in_path, "wb");
    if (!f) {
        ka_t_rmtree(dir);
        free(dir);
        return -1;
    }
    if (stdin_data && stdin_len)
        fwrite(stdin_data, 1, stdin_len, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' %s <'%s' >'%s' 2>'%s'", KA_BINARY, args, in_path, out_path,
             err_path);
    int st = system(cmd);
    int rc = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    char *p = ka_t_read_file(out_path, out_len);
    if (out)
        *out = p;
    else
        free(p);
    p = ka_t_read_file(err_path, NULL);
    if (err)
        *err = p;
    else
        free(p);
    ka_t_rmtree(dir);
    free(dir);
    return rc;
}
