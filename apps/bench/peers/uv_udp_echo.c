/* Benchmark peer: UDP echo server on libuv, as libuv's own UDP examples write it: uv_udp_recv_start with
 * a malloc'ed buffer from alloc_cb, and each datagram sent back to its sender with one uv_udp_send (the
 * received buffer is handed over to the send and freed in its callback). libuv reads up to 32 datagrams
 * per readiness event with recvmsg; recvmmsg (UV_UDP_RECVMMSG) is not asked for, as in the examples.
 * Binds 127.0.0.1 (or --host), prints "listening on HOST:PORT" once bound, exits on SIGINT/SIGTERM. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static void alloc_buffer(uv_handle_t* handle, size_t suggested_size, uv_buf_t* buf) {
    (void)handle;
    buf->base = (char*)malloc(suggested_size);
    buf->len = buf->base ? suggested_size : 0;
}

static void on_send(uv_udp_send_t* req, int status) {
    (void)status; /* a lost echo is the client's to count */
    free(req->data);
    free(req);
}

static void on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const struct sockaddr* addr,
                    unsigned flags) {
    uv_udp_send_t* req;
    uv_buf_t out;
    (void)flags;
    if (nread < 0 || addr == NULL) { /* no address: nothing more to read now; < 0: an error */
        free(buf->base);
        return;
    }
    req = (uv_udp_send_t*)malloc(sizeof *req);
    if (req == NULL) {
        free(buf->base);
        return;
    }
    req->data = buf->base;
    out = uv_buf_init(buf->base, (unsigned int)nread);
    if (uv_udp_send(req, handle, &out, 1, addr, on_send) != 0) {
        free(buf->base);
        free(req);
    }
}

static void on_signal(uv_signal_t* handle, int signum) {
    (void)signum;
    uv_stop(handle->loop);
}

static void usage(FILE* out) {
    fprintf(out,
            "bench-uv-udp-echo: libuv UDP echo server (benchmark peer)\n"
            "Options:\n"
            "  --host H             address to bind (default 127.0.0.1)\n"
            "  --port P             port (default 0 = pick a free one)\n");
}

int main(int argc, char** argv) {
    const char* host = "127.0.0.1";
    int port = 0;
    int i;
    uv_loop_t* loop = uv_default_loop();
    uv_udp_t server;
    uv_signal_t sigint, sigterm;
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int bound_len = sizeof bound;
    int rc;

    for (i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            /* Range-checked like the C++ apps' options (apps/common/options.hpp): no sign, 0 to 65535. */
            char* end = NULL;
            const char* text = argv[++i];
            long value = (text[0] >= '0' && text[0] <= '9') ? strtol(text, &end, 10) : -1;
            if (end == NULL || *end != '\0' || value < 0 || value > 65535) {
                fprintf(stderr, "bench-uv-udp-echo: the argument ('%s') for option '--port' is invalid: it must be an integer from 0 to 65535\n", text);
                return 2;
            }
            port = (int)value;
        } else {
            usage(stderr);
            return 1;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    uv_udp_init(loop, &server);
    if ((rc = uv_ip4_addr(host, port, &addr)) != 0 ||
        (rc = uv_udp_bind(&server, (const struct sockaddr*)&addr, 0)) != 0 ||
        (rc = uv_udp_recv_start(&server, alloc_buffer, on_recv)) != 0 ||
        (rc = uv_udp_getsockname(&server, (struct sockaddr*)&bound, &bound_len)) != 0) {
        fprintf(stderr, "bench-uv-udp-echo: cannot listen on %s:%d: %s\n", host, port, uv_strerror(rc));
        return 1;
    }
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    printf("listening on %s:%d\n", host, ntohs(((struct sockaddr_in*)&bound)->sin_port));
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
