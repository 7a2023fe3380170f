/*
 * bench_post.c - HTTP load generator for the collector's intake: N keep-alive connections
 * over plain sockets, each POSTing request bodies (one per line of BODIES, e.g. 400-event
 * EventLists) in a loop for a fixed time and counting the 200 answers.
 *
 *   bench_post HOST PORT PATH CONNECTIONS SECONDS BODIES [EVENTS-PER-BODY] [TOKEN]
 *
 * Prints one line: connections, seconds, requests answered 200, other answers, events/s
 * (EVENTS-PER-BODY, default 400, per 200 answer), MB/s of request bodies (10^6 bytes) and the
 * mean and maximum request latency. Exit status 1 when any request failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_BODIES 4096
#define MAX_BODY ((size_t)64 << 20)
#define RESP_MAX 65536

struct body {
    char *p;
    size_t n;
};

struct conn {
    double until;
    unsigned long ok, bad;
    unsigned long long bytes;
    double lat_sum, lat_max;
    int id, failed;
};

static const char *g_host, *g_path, *g_token;
static int g_port;
static struct body g_bodies[MAX_BODIES];
static size_t g_nbodies;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)g_port);
    if (inet_pton(AF_INET, g_host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response (headers and a Content-Length body); returns its status or -1. */
static int read_response(int fd, char *buf)
{
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have + 1 >= RESP_MAX)
            return -1;
        ssize_t r = recv(fd, buf + have, RESP_MAX - 1 - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    size_t clen = 0;
    for (char *h = strstr(buf, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n"))
        if (!strncasecmp(h + 2, "Content-Length:", 15))
            clen = strtoul(h + 17, NULL, 10);
    size_t got = have - (size_t)(end + 4 - buf);
    while (got < clen) { /* bodies are small: drain them */
        ssize_t r = recv(fd, buf, RESP_MAX - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return status;
}

/* One request on fd: header and body. Returns the status or -1. */
static int post(int fd, const struct body *b, char *buf)
{
    char hdr[1024];
    int n = snprintf(hdr, sizeof hdr,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s%s\r\n",
                     g_path, g_host, g_port, b->n, g_token ? "Authorization: Bearer " : "",
                     g_token ? g_token : "", g_token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof hdr)
        return -1;
    if (send_all(fd, hdr, (size_t)n) || send_all(fd, b->p, b->n))
        return -1;
    return read_response(fd, buf);
}

static void *run(void *arg)
{
    struct conn *c = arg;
    char *buf = malloc(RESP_MAX);
    int fd = dial();
    if (fd < 0 || !buf) {
        c->failed = 1;
        free(buf);
        return NULL;
    }
    size_t i = (size_t)c->id % g_nbodies;
    for (;;) {
        double t0 = now_s();
        if (t0 >= c->until)
            break;
        int st = post(fd, &g_bodies[i], buf);
        double dt = now_s() - t0;
        if (st < 0) {
            c->failed = 1;
            break;
        }
        if (st == 200) {
            c->ok++;
            c->bytes += g_bodies[i].n;
        } else {
            c->bad++;
        }
        c->lat_sum += dt;
        if (dt > c->lat_max)
            c->lat_max = dt;
        i = (i + 1) % g_nbodies;
    }
    close(fd);
    free(buf);
    return NULL;
}

static int load_bodies(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (g_nbodies < MAX_BODIES && (n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0 || (size_t)n > MAX_BODY)
            continue;
        g_bodies[g_nbodies].p = malloc((size_t)n);
        if (!g_bodies[g_nbodies].p)
            break;
        memcpy(g_bodies[g_nbodies].p, line, (size_t)n);
        g_bodies[g_nbodies++].n = (size_t)n;
    }
    free(line);
    fclose(f);
    return g_nbodies ? 0 : -1;
}

static void report(struct conn *cs, int nconn, double secs, int per_body)
{
    unsigned long ok = 0, bad = 0;
    unsigned long long bytes = 0;
    double lat = 0, lat_max = 0;
    int failed = 0;
    for (int i = 0; i < nconn; i++) {
        ok += cs[i].ok;
        bad += cs[i].bad;
        bytes += cs[i].bytes;
        lat += cs[i].lat_sum;
        failed |= cs[i].failed;
        if (cs[i].lat_max > lat_max)
            lat_max = cs[i].lat_max;
    }
    unsigned long reqs = ok + bad;
    printf("conns=%d secs=%.2f ok=%lu other=%lu events/s=%.0f MB/s=%.1f lat_ms_mean=%.2f "
           "lat_ms_max=%.2f%s\n",
           nconn, secs, ok, bad, (double)ok * per_body / secs, (double)bytes / secs / 1e6,
           reqs ? lat / (double)reqs * 1e3 : 0.0, lat_max * 1e3, failed ? " FAILED" : "");
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: bench_post HOST PORT PATH CONNECTIONS SECONDS BODIES "
                        "[EVENTS-PER-BODY] [TOKEN]\n");
        return 2;
    }
    g_host = argv[1];
    g_port = atoi(argv[2]);
    g_path = argv[3];
    int nconn = atoi(argv[4]);
    double secs = atof(argv[5]);
    int per_body = argc > 7 ? atoi(argv[7]) : 400;
    g_token = argc > 8 ? argv[8] : NULL;
    if (nconn < 1 || nconn > MAX_CONNS || secs <= 0 || per_body < 1 || load_bodies(argv[6])) {
        fprintf(stderr, "bench_post: bad arguments or no bodies in %s\n", argv[6]);
        return 2;
    }
    static struct conn cs[MAX_CONNS];
    pthread_t th[MAX_CONNS];
    double t0 = now_s();
    for (int i = 0; i < nconn; i++) {
        cs[i].id = i;
        cs[i].until = t0 + secs;
        if (pthread_create(&th[i], NULL, run, &cs[i]) != 0)
            return 2;
    }
    for (int i = 0; i < nconn; i++)
        pthread_join(th[i], NULL);
    double el = now_s() - t0;
    report(cs, nconn, el, per_body);
    int failed = 0;
    for (int i = 0; i < nconn; i++)
        failed |= cs[i].failed;
    for (size_t i = 0; i < g_nbodies; i++)
        free(g_bodies[i].p);
    return failed ? 1 : 0;
}
