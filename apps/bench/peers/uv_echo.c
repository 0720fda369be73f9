/* Benchmark peer: echo server on libuv, written the way libuv's own echo examples are (one loop,
 * uv_tcp_t per client, malloc'ed read buffers from alloc_cb, one uv_write_t per write).
 *   --mode raw   each read buffer is written back as is
 *   --mode line  complete "\n"-terminated lines are split out of what was read (a partial line waits in
 *                a per-client buffer) and echoed back, one uv_write per read callback
 * Binds 127.0.0.1 (or --host), prints "listening on HOST:PORT" once bound, exits on SIGINT/SIGTERM. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_LINE (16 * 1024)

typedef struct {
    uv_tcp_t handle; /* first member: a uv_stream_t* to it is a client_t* */
    char* partial;   /* line mode: the start of a line that has no "\n" yet */
    size_t partial_len;
} client_t;

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} write_req_t;

static int line_mode = 0;

static void on_close(uv_handle_t* handle) {
    client_t* client = (client_t*)handle;
    free(client->partial);
    free(client);
}

static void alloc_buffer(uv_handle_t* handle, size_t suggested_size, uv_buf_t* buf) {
    (void)handle;
    buf->base = (char*)malloc(suggested_size);
    buf->len = buf->base ? suggested_size : 0;
}

static void on_write(uv_write_t* req, int status) {
    write_req_t* wr = (write_req_t*)req;
    (void)status; /* on error the read side sees it too and closes the client */
    free(wr->buf.base);
    free(wr);
}

/* Takes ownership of base. */
static void write_back(uv_stream_t* stream, char* base, size_t len) {
    write_req_t* wr = (write_req_t*)malloc(sizeof *wr);
    wr->buf = uv_buf_init(base, (unsigned int)len);
    if (uv_write(&wr->req, stream, &wr->buf, 1, on_write) != 0) {
        free(base);
        free(wr);
    }
}

/* Line mode: echo every complete line of partial + data; keep the unterminated rest. */
static int echo_lines(client_t* client, const char* data, size_t len) {
    size_t out_len = 0;
    char* out = (char*)malloc(client->partial_len + len);
    const char* p = data;
    const char* end = data + len;
    const char* nl;
    if (out == NULL) {
        return -1;
    }
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        size_t n = (size_t)(nl - p);
        /* one line: the saved start (if any), then the rest up to "\n" */
        memcpy(out + out_len, client->partial, client->partial_len);
        out_len += client->partial_len;
        client->partial_len = 0;
        memcpy(out + out_len, p, n);
        out_len += n;
        out[out_len++] = '\n';
        p = nl + 1;
    }
    if (p < end) {
        size_t rest = (size_t)(end - p);
        if (client->partial_len + rest > MAX_LINE) {
            free(out);
            return -1;
        }
        char* grown = (char*)realloc(client->partial, client->partial_len + rest);
        if (grown == NULL) {
            free(out);
            return -1;
        }
        client->partial = grown;
        memcpy(client->partial + client->partial_len, p, rest);
        client->partial_len += rest;
    }
    if (out_len > 0) {
        write_back((uv_stream_t*)client, out, out_len);
    } else {
        free(out);
    }
    return 0;
}

static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    if (nread > 0) {
        if (line_mode) {
            int rc = echo_lines((client_t*)stream, buf->base, (size_t)nread);
            free(buf->base);
            if (rc != 0) {
                uv_close((uv_handle_t*)stream, on_close);
            }
        } else {
            write_back(stream, buf->base, (size_t)nread);
        }
        return;
    }
    free(buf->base);
    if (nread < 0) {
        uv_close((uv_handle_t*)stream, on_close);
    }
}

static void on_new_connection(uv_stream_t* server, int status) {
    client_t* client;
    if (status < 0) {
        return;
    }
    client = (client_t*)calloc(1, sizeof *client);
    uv_tcp_init(server->loop, &client->handle);
    if (uv_accept(server, (uv_stream_t*)&client->handle) == 0) {
        uv_tcp_nodelay(&client->handle, 1);
        uv_read_start((uv_stream_t*)&client->handle, alloc_buffer, on_read);
    } else {
        uv_close((uv_handle_t*)&client->handle, on_close);
    }
}

static void on_signal(uv_signal_t* handle, int signum) {
    (void)signum;
    uv_stop(handle->loop);
}

static void usage(FILE* out) {
    fprintf(out,
            "bench-uv-echo: libuv echo server (benchmark peer)\n"
            "Options:\n"
            "  --host H             address to bind (default 127.0.0.1)\n"
            "  --port P             port (default 0 = pick a free one)\n"
            "  --mode raw|line      echo bytes, or echo \"\\n\"-terminated lines (default raw)\n");
}

int main(int argc, char** argv) {
    const char* host = "127.0.0.1";
    int port = 0;
    int i;
    uv_loop_t* loop = uv_default_loop();
    uv_tcp_t server;
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
                fprintf(stderr, "bench-uv-echo: the argument ('%s') for option '--port' is invalid: it must be an integer from 0 to 65535\n", text);
                return 2;
            }
            port = (int)value;
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            ++i;
            if (strcmp(argv[i], "line") == 0) {
                line_mode = 1;
            } else if (strcmp(argv[i], "raw") == 0) {
                line_mode = 0;
            } else {
                usage(stderr);
                return 1;
            }
        } else {
            usage(stderr);
            return 1;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    uv_tcp_init(loop, &server);
    if ((rc = uv_ip4_addr(host, port, &addr)) != 0 ||
        (rc = uv_tcp_bind(&server, (const struct sockaddr*)&addr, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t*)&server, SOMAXCONN, on_new_connection)) != 0 ||
        (rc = uv_tcp_getsockname(&server, (struct sockaddr*)&bound, &bound_len)) != 0) {
        fprintf(stderr, "bench-uv-echo: cannot listen on %s:%d: %s\n", host, port, uv_strerror(rc));
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
