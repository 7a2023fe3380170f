/*
 * replay_main.c - runs a libFuzzer target over every file of a corpus directory, so that CI
 * (gcc with ASan/UBSan, no libFuzzer) replays the checked-in corpus. Prints
 * "N passed, 0 failed" when every input ran; a crash aborts under the sanitizers.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    /* Exact-size copy so ASan catches any read past the input. */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "%s: cannot open corpus\n", argv[1]);
        return 1;
    }
    struct dirent *e;
    unsigned long ok = 0, bad = 0;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        if (run_file(path) == 0)
            ok++;
        else
            bad++;
    }
    closedir(d);
    printf("%lu passed, %lu failed\n", ok, bad);
    return (bad || ok == 0) ? 1 : 0;
}
