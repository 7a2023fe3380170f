/*
 * bench_discard.c - the ceiling for intake benchmarks: a libmicrohttpd server in the same
 * threading mode as `kaudit serve` (internal polling thread, one thread per connection) that
 * reads every request body, throws it away and answers 200 with a small JSON body.
 *
 *   bench_discard PORT [SECONDS]
 *
 * Listens on 127.0.0.1:PORT, prints "listening" when ready, runs SECONDS (default 3600) or
 * until SIGTERM/SIGINT, then prints the requests and body bytes it received.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_ullong g_requests, g_bytes;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    static const char ok[] = "{\"status\":\"ok\"}\n";
    static int started;
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data;
    if (*req_cls == NULL) { /* headers only: ask for the body */
        *req_cls = &started;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        atomic_fetch_add(&g_bytes, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&g_requests, 1);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof ok - 1, (void *)(uintptr_t)ok, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_discard PORT [SECONDS]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int secs = argc > 2 ? atoi(argv[2]) : 3600;
    if (port <= 0 || port > 65535 || secs <= 0)
        return 2;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench_discard: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    fprintf(stderr, "bench_discard: listening on 127.0.0.1:%d\n", port);
    for (int i = 0; i < secs * 10 && !g_stop; i++)
        usleep(100000);
    MHD_stop_daemon(d);
    fprintf(stderr, "bench_discard: %llu requests, %llu body bytes\n",
            (unsigned long long)atomic_load(&g_requests),
            (unsigned long long)atomic_load(&g_bytes));
    return 0;
}
