/*
 * ezauth-host: a small HTTP/1.1 server that runs the ezauth module in-process, the way
 * IIS runs a native module: OnBeginRequest before the application, OnSendResponse after.
 *
 *     ezauth-host -l ADDR:PORT -c CONFIG [-u HOST:PORT] [-v]
 *                 [-m MAX] [-p PER_IP] [-t HEADER_SECONDS] [-b BODY_SECONDS]
 *                 [-i IDLE_SECONDS]
 *
 * The application is an upstream HTTP server (-u, reached through libcurl) or, without
 * -u, a built-in echo application that answers with the request it saw as JSON. The host exists for tests,
 * demos and benchmarks; nginx is the production host.
 *
 * Built on libmicrohttpd with a thread per connection, so every call into the module,
 * blocking steps included, runs inline on the connection's own thread. A connection
 * costs a thread, so slow clients (slowloris) are bounded: connections in all (-m) and
 * per client address (-p), a deadline for each request head (-t) and one for its body
 * (-b), which trickling bytes do not extend, unlike libmicrohttpd's idle timeout (-i).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "ezauth.h"


#define EH_MAX_BODY          (1024 * 1024)
/* an oversized chunked body is drained to answer 413; past this we just hang up */
#define EH_MAX_DISCARD       (8 * 1024 * 1024)
#define EH_MAX_UPSTREAM      (64 * 1024 * 1024)
/*
 * libmicrohttpd reads the request line and headers into a per-connection pool of this
 * size; a header block that does not fit gets 431 (or 414 for a huge request line).
 * 48 KiB leaves room above nginx's default limit (4 x 8 KiB) for split session cookies.
 */
#define EH_MEMORY_LIMIT      (48 * 1024)
/* defaults of -m, -p, -t, -b, -i */
#define EH_MAX_CONNECTIONS   1024
#define EH_MAX_PER_IP        64
#define EH_HEADER_TIMEOUT    20      /* seconds for a request line and headers to arrive */
#define EH_BODY_TIMEOUT      60      /* seconds for a request body to arrive, after its head */
#define EH_IDLE_TIMEOUT      60      /* seconds a connection may sit without a byte */
/* how often the watchdog looks for requests past their deadline */
#define EH_WATCH_MS          250
#define EH_CONNECT_TIMEOUT   10
#define EH_UPSTREAM_TIMEOUT  60
/* room for eh_printable(): 128 bytes, each at most "\xHH", and "..." */
#define EH_PRINTABLE         (128 * 4 + 8)


#define eh_str(p, n)   ((ezauth_str) { (const uint8_t *) (p), (n) })
#define eh_lit(s)      eh_str(s, sizeof(s) - 1)
#define eh_lower(c)    ((c) >= 'A' && (c) <= 'Z' ? (c) | 0x20 : (c))


typedef struct {
    char           *data;
    size_t          len;
    size_t          size;
} eh_buf_t;


typedef struct {
    ezauth_header  *elts;
    size_t          nelts;
    size_t          nalloc;
} eh_headers_t;


/* Per-request state, created by the URI callback and freed when MHD completes the request. */
typedef struct {
    char           *target;       /* path and query exactly as on the request line */
    size_t          target_len;
    char           *host;         /* the authority of an absolute-form target, or NULL */
    size_t          host_len;
    eh_buf_t        body;
    size_t          discarded;
    unsigned        started:1;
    unsigned        too_large:1;
} eh_request_t;


/* What the application answered; the header views point into head, the body into raw. */
typedef struct {
    unsigned        status;
    eh_headers_t    headers;
    eh_buf_t        head;
    eh_buf_t        raw;
    const char     *body;
    size_t          body_len;
} eh_app_response_t;


typedef struct {
    int             verbose;
} eh_log_conf_t;


typedef struct {
    struct sockaddr_storage  addr;
    socklen_t                addrlen;
    char                     host[260];   /* as given ([v6] bracketed), for printing */
    char                     authority[300];
    unsigned                 port;
} eh_addr_t;


/*
 * One open connection, from libmicrohttpd's connection-started notification to its
 * connection-closed one, which comes before libmicrohttpd closes the socket: while the
 * entry is listed (under eh_conns.lock), fd is this connection's socket.
 */
typedef struct eh_conn_s  eh_conn_t;

struct eh_conn_s {
    eh_conn_t      *prev;
    eh_conn_t      *next;
    int             fd;
    unsigned        shut:1;
    unsigned        body:1;       /* the deadline is the body's */
    int64_t         deadline;     /* monotonic ms by which a request head (or body) must be
                                     in; 0: none */
    char            addr[INET6_ADDRSTRLEN];
};


/* The open connections and the watchdog thread that enforces the request deadlines. */
typedef struct {
    pthread_mutex_t  lock;
    pthread_cond_t   wake;
    eh_conn_t        list;        /* sentinel of a circular list */
    int              stop;
    unsigned         header_timeout;
    unsigned         body_timeout;
    unsigned         idle_timeout;
} eh_conns_t;


static ezauth_module  *eh_module;
static eh_log_conf_t   eh_log_conf;
static eh_addr_t       eh_listen;
static eh_addr_t       eh_upstream;
static char            eh_upstream_url[INET6_ADDRSTRLEN + 32];   /* http://ADDR:PORT */
static int             eh_have_upstream;
static eh_conns_t      eh_conns = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .list = { .prev = &eh_conns.list, .next = &eh_conns.list, .fd = -1 },
};


static void eh_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t eh_now_ms(void);


static void
eh_log(const char *fmt, ...)
{
    va_list  ap;

    flockfile(stderr);
    fputs("ezauth-host: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}


static const char *
eh_level_name(ezauth_log_level level)
{
    switch (level) {
    case EZAUTH_LOG_ERROR: return "ERROR";
    case EZAUTH_LOG_WARN:  return "WARN";
    case EZAUTH_LOG_INFO:  return "INFO";
    case EZAUTH_LOG_DEBUG: return "DEBUG";
    default:               return "?";
    }
}


/*
 * The module's log sink: may run on any connection thread at once, hence the lock. A line
 * about a request carries the request userdata eh_handle gave ezauth_module_begin_request:
 * the client's address, which ends the line as nginx ends its own ("client: ...").
 */
static void
eh_log_module(void *userdata, const ezauth_log_event *event)
{
    eh_log_conf_t  *conf = userdata;
    const char     *client = event->request_userdata;

    if (event->level == EZAUTH_LOG_DEBUG && !conf->verbose) {
        return;
    }

    flockfile(stderr);
    fprintf(stderr, "ezauth: [%s] ", eh_level_name(event->level));
    if (event->message.len) {
        fwrite(event->message.ptr, 1, event->message.len, stderr);
    }
    if (client != NULL) {
        fprintf(stderr, ", client: %s", client);
    }
    fputc('\n', stderr);
    funlockfile(stderr);
}


/*
 * libmicrohttpd's own messages. Under a flood it logs one line per connection (over -m or
 * -p, closed for its request head's deadline), so a message repeated within the same
 * second is left out and counted, and the count comes with its next line.
 */
static void
eh_log_mhd(void *cls, const char *fmt, va_list ap)
{
    static pthread_mutex_t   lock = PTHREAD_MUTEX_INITIALIZER;
    static const char       *last;
    static int64_t           second;
    static unsigned          left_out;
    int64_t                  now;
    unsigned                 n;

    (void) cls;

    now = eh_now_ms() / 1000;

    pthread_mutex_lock(&lock);

    if (fmt == last && now == second) {
        left_out++;
        pthread_mutex_unlock(&lock);
        return;
    }

    n = (fmt == last) ? left_out : 0;
    left_out = (fmt == last) ? 0 : left_out;
    last = fmt;
    second = now;

    pthread_mutex_unlock(&lock);

    /* libmicrohttpd's messages carry their own newline */
    flockfile(stderr);
    if (n) {
        fprintf(stderr, "ezauth-host: mhd: (%u repeats of the next line left out)\n", n);
    }
    fputs("ezauth-host: mhd: ", stderr);
    vfprintf(stderr, fmt, ap);
    funlockfile(stderr);
}


/* growable buffers */

static int
eh_buf_reserve(eh_buf_t *b, size_t n)
{
    size_t   size;
    char    *p;

    if (b->size - b->len >= n) {
        return 0;
    }

    size = b->size ? b->size : 1024;
    while (size - b->len < n) {
        size *= 2;
    }

    p = realloc(b->data, size);
    if (p == NULL) {
        return -1;
    }

    b->data = p;
    b->size = size;
    return 0;
}


static int
eh_buf_add(eh_buf_t *b, const void *p, size_t n)
{
    if (n == 0) {
        return 0;
    }

    if (eh_buf_reserve(b, n) != 0) {
        return -1;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}


static int
eh_buf_adds(eh_buf_t *b, const char *s)
{
    return eh_buf_add(b, s, strlen(s));
}


static void
eh_buf_free(eh_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->size = 0;
}


static int
eh_headers_add(eh_headers_t *h, ezauth_str name, ezauth_str value)
{
    size_t          n;
    ezauth_header  *p;

    if (h->nelts == h->nalloc) {
        n = h->nalloc ? h->nalloc * 2 : 32;
        p = realloc(h->elts, n * sizeof(ezauth_header));
        if (p == NULL) {
            return -1;
        }
        h->elts = p;
        h->nalloc = n;
    }

    h->elts[h->nelts].name = name;
    h->elts[h->nelts].value = value;
    h->nelts++;
    return 0;
}


static int
eh_str_eq_ci(ezauth_str a, ezauth_str b)
{
    size_t  i;

    if (a.len != b.len) {
        return 0;
    }

    for (i = 0; i < a.len; i++) {
        if (eh_lower(a.ptr[i]) != eh_lower(b.ptr[i])) {
            return 0;
        }
    }

    return 1;
}


static int
eh_name_is(ezauth_str a, const char *lit)
{
    return eh_str_eq_ci(a, eh_str(lit, strlen(lit)));
}


/*
 * Connection-level headers describe one hop; they are neither forwarded nor relayed.
 * Content-Length is recomputed for the body we actually send.
 */
static int
eh_hop_by_hop(ezauth_str name)
{
    static const char  *names[] = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
        "trailer", "upgrade", "content-length", "expect", NULL
    };
    const char  **p;

    for (p = names; *p; p++) {
        if (eh_name_is(name, *p)) {
            return 1;
        }
    }

    return 0;
}


/*
 * Header names and values, judged on their raw bytes.
 *
 * A name is an HTTP token (RFC 9110 5.6.2: tchar); a value holds no control byte but
 * HTAB (RFC 9110 5.5: VCHAR, SP, HTAB, obs-text). Every header the module hands us is
 * checked before it is written, and so is every header of the upstream's answer.
 */
static int
eh_tchar(uint8_t ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
        return 1;
    }

    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}


static int
eh_token(ezauth_str s)
{
    size_t  i;

    if (s.len == 0) {
        return 0;
    }

    for (i = 0; i < s.len; i++) {
        if (!eh_tchar(s.ptr[i])) {
            return 0;
        }
    }

    return 1;
}


static int
eh_field_value(ezauth_str s)
{
    size_t  i;

    for (i = 0; i < s.len; i++) {
        if ((s.ptr[i] < 0x20 && s.ptr[i] != '\t') || s.ptr[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


static int
eh_header_valid(const ezauth_header *h)
{
    return eh_token(h->name) && eh_field_value(h->value);
}


/*
 * Is this a client-sent name that only the module may set? X-MS-CLIENT-PRINCIPAL* and
 * X-MS-TOKEN-*, any case, any byte but a letter or digit for '-' ('_', '.'), after any
 * leading whitespace (an obs-fold line).
 * The host removes these itself, whatever their values, before the module or the
 * application sees the request: the module reads only UTF-8 headers.
 */
static int
eh_reserved_name(ezauth_str name)
{
    static const char  *prefixes[] = { "x-ms-client-principal", "x-ms-token-", NULL };
    size_t               i, n, skip;
    uint8_t              ch;
    const char         **p;

    for (skip = 0; skip < name.len; skip++) {
        ch = name.ptr[skip];
        if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
            break;
        }
    }

    for (p = prefixes; *p; p++) {
        n = strlen(*p);

        if (name.len - skip < n) {
            continue;
        }

        for (i = 0; i < n; i++) {
            ch = name.ptr[skip + i];
            /* any separator for '-': '_' (CGI), '.', '~' (frameworks that map them) */
            ch = ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
                 ? eh_lower(ch) : '-';
            if (ch != (uint8_t) (*p)[i]) {
                break;
            }
        }

        if (i == n) {
            return 1;
        }
    }

    return 0;
}


/* A header name for a log line: printable ASCII as is, other bytes as \xHH, cut at 128. */
static const char *
eh_printable(ezauth_str s, char *buf, size_t size)
{
    size_t   i, k;
    uint8_t  ch;

    k = 0;

    for (i = 0; i < s.len && i < 128 && k + 8 < size; i++) {
        ch = s.ptr[i];
        if (ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            buf[k++] = (char) ch;
        } else {
            k += (size_t) snprintf(buf + k, size - k, "\\x%02x", ch);
        }
    }

    if (i < s.len && k + 4 < size) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }

    buf[k] = '\0';
    return buf;
}


/* libmicrohttpd takes C strings; copies keep the views' owners out of it. */
static void
eh_response_header(struct MHD_Response *resp, ezauth_header *h)
{
    char  *name, buf[EH_PRINTABLE];

    if (eh_hop_by_hop(h->name)) {
        return;
    }

    if (!eh_header_valid(h)) {
        eh_log("dropped an invalid response header \"%s\"",
               eh_printable(h->name, buf, sizeof(buf)));
        return;
    }

    name = malloc(h->name.len + h->value.len + 2);
    if (name == NULL) {
        return;
    }

    memcpy(name, h->name.ptr, h->name.len);
    name[h->name.len] = '\0';
    if (h->value.len) {
        memcpy(name + h->name.len + 1, h->value.ptr, h->value.len);
    }
    name[h->name.len + 1 + h->value.len] = '\0';

    /* each call adds a header line, so repeated Set-Cookie headers all go out */
    if (MHD_add_response_header(resp, name, name + h->name.len + 1) != MHD_YES) {
        eh_log("libmicrohttpd refused response header \"%s\"", name);
    }

    free(name);
}


/*
 * Are all the headers of one of the module's lists fit to be written? Logs the first one
 * that is not (its name; never a value).
 */
static int
eh_outcome_headers_valid(ezauth_outcome *out, ezauth_header_set set, const char *what)
{
    char           buf[EH_PRINTABLE];
    size_t         i, n;
    ezauth_header  h;

    n = ezauth_outcome_header_count(out, set);

    for (i = 0; i < n; i++) {
        if (ezauth_outcome_header(out, set, i, &h) != EZAUTH_OK) {
            eh_log("cannot read %s header %zu from the module", what, i);
            return 0;
        }

        if (!eh_header_valid(&h)) {
            eh_log("the module gave an invalid %s header \"%s\" (not a token, or a control "
                   "byte in its value): refusing the request with 500",
                   what, eh_printable(h.name, buf, sizeof(buf)));
            return 0;
        }
    }

    return 1;
}


static void
eh_response_outcome_headers(struct MHD_Response *resp, ezauth_outcome *out,
    ezauth_header_set set)
{
    size_t         i, n;
    ezauth_header  h;

    n = ezauth_outcome_header_count(out, set);

    for (i = 0; i < n; i++) {
        if (ezauth_outcome_header(out, set, i, &h) == EZAUTH_OK) {
            eh_response_header(resp, &h);
        }
    }
}


/*
 * Every response goes out through here. After a chunked request body the connection is
 * closed: libmicrohttpd 0.9 reads chunk extensions without a look at them (any bytes up
 * to the line's LF) and takes a bare LF for a line end, as nginx does; a proxy in front
 * that framed the body differently must not have the bytes after it read as the next
 * request on this connection. (The framing headers themselves are judged in eh_framing.)
 */
static enum MHD_Result
eh_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp, int close)
{
    if (close
        || MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
    {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }

    return MHD_queue_response(c, status, resp);
}


static enum MHD_Result
eh_respond_close(struct MHD_Connection *c, unsigned status, const char *text, int close)
{
    enum MHD_Result       rc;
    struct MHD_Response  *resp;

    resp = MHD_create_response_from_buffer(strlen(text), (void *) text,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        return MHD_NO;
    }

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    rc = eh_queue(c, status, resp, close);
    MHD_destroy_response(resp);
    return rc;
}


static enum MHD_Result
eh_respond_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return eh_respond_close(c, status, text, 0);
}


/* request side */

/*
 * The request's headers as the module and the application see them. A client-sent
 * identity header is removed here, by the host itself, whatever the bytes of its value:
 * the module skips headers that are not UTF-8, so it cannot be the only line of defense.
 */
static enum MHD_Result
eh_collect_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
    const char *value, size_t value_size)
{
    char           buf[EH_PRINTABLE];
    eh_headers_t  *h = cls;

    (void) kind;

    if (eh_reserved_name(eh_str(key, key_size))) {
        eh_log("removed client-sent identity header \"%s\"",
               eh_printable(eh_str(key, key_size), buf, sizeof(buf)));
        return MHD_YES;
    }

    if (value == NULL) {
        value = "";
        value_size = 0;
    }

    if (eh_headers_add(h, eh_str(key, key_size), eh_str(value, value_size)) != 0) {
        return MHD_NO;
    }

    return MHD_YES;
}


/*
 * Was this header continued by an obs-fold line (CRLF, then SP or HTAB)? RFC 9112 5.2 lets
 * a server refuse those (400), and lenient backends read "X-A: b\r\n X-MS-...: v" as a
 * second header. libmicrohttpd 0.9 parses each header line in place, "name\0", the blanks
 * after the colon, then the value; a fold line it glues to the previous header's name,
 * which it copies elsewhere in the connection's memory pool ("X-A: b\r\n c" is handed
 * over as "X-Ac: b"; "X-A: b\r\n \r\n" as "X-A: b"). So a header whose value does not
 * follow its own name that way was folded, whatever the fold line held. Both views point
 * into one pool of EH_MEMORY_LIMIT bytes, so the bytes between them are readable.
 */
static int
eh_folded(const char *key, size_t key_size, const char *value)
{
    uintptr_t    k, v;
    const char  *p;

    if (value == NULL) {
        return 0;
    }

    k = (uintptr_t) key + key_size + 1;
    v = (uintptr_t) value;

    if (v < k || v - k >= EH_MEMORY_LIMIT || key[key_size] != '\0') {
        return 1;
    }

    for (p = key + key_size + 1; p < value; p++) {
        if (*p != ' ' && *p != '\t') {
            return 1;
        }
    }

    return 0;
}


typedef struct {
    ezauth_str   name;
    const char  *why;
    ezauth_str   last;        /* the header before, in place */
    const char  *last_end;    /* where its value ends */
} eh_bad_header_t;


/*
 * Do only a line end's bytes lie between the end of a header's value and the next line
 * (the next header's name, or the end of the head)? libmicrohttpd 0.9 writes NUL over
 * the CR and LF of each line end, in place, and hands over values as C strings: a NUL
 * byte in a value cuts it there, and what follows it on the line is dropped unseen
 * ("Transfer-Encoding: chunked\0, gzip" reads as "chunked"). Such a line leaves a gap
 * that is not just its line end (min..max NUL bytes). A NUL right before a bare LF cannot
 * be told from a CR: "chunked\0\n" reads as "chunked", and a line of "\0\n" alone ends
 * the head, as an empty line would.
 */
static int
eh_line_end(const char *end, const char *next, size_t min, size_t max)
{
    const char  *p;

    if (next < end || (size_t) (next - end) < min || (size_t) (next - end) > max) {
        return 0;
    }

    for (p = end; p < next; p++) {
        if (*p != '\0') {
            return 0;
        }
    }

    return 1;
}


/*
 * The first request header that may not pass (RFC 9110 5.1, 5.5; RFC 9112 5.2): a name
 * that is not a token (a space or control byte in it; a leading space), a header continued
 * by an obs-fold line, a value with CR, or a line with a NUL byte (seen by eh_line_end,
 * here for each header but the last, in eh_head_nul for the last).
 */
static enum MHD_Result
eh_find_bad_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
    const char *value, size_t value_size)
{
    eh_bad_header_t  *bad = cls;
    ezauth_str        name = eh_str(key, key_size);

    (void) kind;

    if (eh_folded(key, key_size, value)) {
        /* a folded name holds the fold line's text: NULL, so that it is never logged */
        bad->why = "continued by an obs-fold line";
        bad->name = eh_str(NULL, 0);
        return MHD_NO;
    }

    if (bad->last_end != NULL && !eh_line_end(bad->last_end, key, 1, 2)) {
        bad->why = "a NUL byte in its line";
        bad->name = bad->last;
        return MHD_NO;
    }

    bad->why = !eh_token(name) ? "not a token"
               : (value != NULL
                  && (memchr(value, '\r', value_size) != NULL
                      || memchr(value, '\n', value_size) != NULL)) ? "CR or LF in its value"
               : NULL;

    if (bad->why) {
        bad->name = name;
        return MHD_NO;
    }

    bad->last = name;
    /* not folded: a missing value is the empty string at the line end after the colon */
    bad->last_end = value ? value + value_size : key + key_size + 1;

    return MHD_YES;
}


/* The last header's line: its line end and the empty line's, then the end of the head. */
static void
eh_head_nul(struct MHD_Connection *c, const char *method, eh_bad_header_t *bad)
{
    const union MHD_ConnectionInfo  *ci;

    if (bad->why != NULL || bad->last_end == NULL) {
        return;
    }

    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);

    /* the head is in place from its method on (libmicrohttpd counts its size so) */
    if (ci == NULL
        || !eh_line_end(bad->last_end, method + ci->header_size, 2, 4))
    {
        bad->why = "a NUL byte in its line";
        bad->name = bad->last;
    }
}


/*
 * Request framing (RFC 9112 6.1, 6.3). libmicrohttpd 0.9 frames a body by the first
 * Content-Length line (or, with any Transfer-Encoding line, by the first of those, and
 * ignores Content-Length then); a proxy in front that frames by another line would read
 * the rest of the body as a next request on the connection, or the next request as body.
 * So, as nginx does, a request is refused with 400 and the connection closed when the
 * framing could be read two ways: more than one Content-Length or Transfer-Encoding line,
 * both of them, a Content-Length that is not plain digits (no list, sign or blanks),
 * Transfer-Encoding on HTTP/1.0, or a Transfer-Encoding value other than exactly "chunked"
 * (any case): 501 for a single unknown coding, 400 for anything else. An HTAB before
 * either value counts as odd (nginx takes only SP there). Runs after eh_find_bad_header,
 * so every header's value follows its own name in the read buffer (see eh_folded).
 */
typedef struct {
    unsigned     cl;          /* Content-Length lines */
    unsigned     te;          /* Transfer-Encoding lines */
    unsigned     status;      /* of the first fault of a value: 400 or 501; 0: none */
    const char  *why;         /* that fault, for the log */
    ezauth_str   coding;      /* the unknown coding, for the log */
} eh_framing_t;


static enum MHD_Result
eh_framing_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
    const char *value, size_t value_size)
{
    int            cl;
    size_t         i;
    const char    *why;
    ezauth_str     v;
    eh_framing_t  *f = cls;

    (void) kind;

    cl = eh_name_is(eh_str(key, key_size), "content-length");
    if (!cl && !eh_name_is(eh_str(key, key_size), "transfer-encoding")) {
        return MHD_YES;
    }

    if (cl) {
        f->cl++;
    } else {
        f->te++;
    }

    if (f->status) {
        return MHD_YES;   /* the first fault is the one logged; the lines are still counted */
    }

    v = value ? eh_str(value, value_size) : eh_str("", 0);
    why = NULL;

    /* the blanks libmicrohttpd skipped between the colon and the value */
    if (value != NULL
        && memchr(key + key_size + 1, '\t', (size_t) (value - (key + key_size + 1))) != NULL)
    {
        why = cl ? "an HTAB before the Content-Length value"
                 : "an HTAB before the Transfer-Encoding value";
    }

    /* a lone Content-Length that is not digits libmicrohttpd refuses itself, before us */
    if (why == NULL && cl) {
        for (i = 0; i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9'; i++) { /* void */ }
        if (v.len == 0 || i != v.len) {
            why = "a Content-Length that is not plain digits";
        }

    } else if (why == NULL && !eh_name_is(v, "chunked")) {
        if (eh_token(v)) {
            f->status = MHD_HTTP_NOT_IMPLEMENTED;
            f->why = "an unknown transfer coding";
            f->coding = v;
            return MHD_YES;
        }
        why = "a Transfer-Encoding value other than \"chunked\"";
    }

    if (why) {
        f->status = MHD_HTTP_BAD_REQUEST;
        f->why = why;
    }

    return MHD_YES;
}


/* 0 when the framing is unambiguous; else logs why and returns the status to refuse with */
static unsigned
eh_framing(struct MHD_Connection *c, const char *version)
{
    char          buf[EH_PRINTABLE];
    const char   *why;
    eh_framing_t  f;

    memset(&f, 0, sizeof(f));
    (void) MHD_get_connection_values_n(c, MHD_HEADER_KIND, eh_framing_header, &f);

    why = (f.cl > 1) ? "more than one Content-Length line"
          : (f.te > 1) ? "more than one Transfer-Encoding line"
          : (f.cl && f.te) ? "both Content-Length and Transfer-Encoding"
          : (f.te && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
            ? "Transfer-Encoding on HTTP/1.0"
          : NULL;

    if (why) {
        eh_log("refused a request with %s (ambiguous framing): 400, connection closed", why);
        return MHD_HTTP_BAD_REQUEST;
    }

    if (f.status == MHD_HTTP_NOT_IMPLEMENTED) {
        eh_log("refused a request with %s \"%s\": 501, connection closed", f.why,
               eh_printable(f.coding, buf, sizeof(buf)));

    } else if (f.status) {
        eh_log("refused a request with %s (ambiguous framing): 400, connection closed", f.why);
    }

    return f.status;
}


static void
eh_client_addr(struct MHD_Connection *c, char *buf, size_t size)
{
    const struct sockaddr            *sa;
    const union MHD_ConnectionInfo   *ci;

    buf[0] = '\0';

    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL) {
        return;
    }

    sa = ci->client_addr;

    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *) (const void *) sa)->sin_addr,
                  buf, size);

    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr,
                  buf, size);
    }
}


static ezauth_str
eh_find_header(const eh_headers_t *h, const char *name)
{
    size_t  i;

    for (i = 0; i < h->nelts; i++) {
        if (eh_name_is(h->elts[i].name, name)) {
            return h->elts[i].value;
        }
    }

    return eh_str(NULL, 0);
}


/*
 * The request the application sees: the client's headers minus those the module removes
 * and those it sets (which replace any of the same name), plus the ones it sets.
 */
static int
eh_listed(ezauth_outcome *out, ezauth_header_set set, size_t n, ezauth_str name)
{
    size_t         i;
    ezauth_header  h;

    for (i = 0; i < n; i++) {
        if (ezauth_outcome_header(out, set, i, &h) == EZAUTH_OK
            && eh_str_eq_ci(h.name, name))
        {
            return 1;
        }
    }

    return 0;
}


static int
eh_edit_headers(const eh_headers_t *in, ezauth_outcome *out, eh_headers_t *fwd)
{
    size_t         i, nremove, nset;
    ezauth_header  h;

    /* all or nothing: no request goes on with part of the module's headers */
    if (!eh_outcome_headers_valid(out, EZAUTH_HEADERS_REQUEST_SET, "request")) {
        return -1;
    }

    nremove = ezauth_outcome_header_count(out, EZAUTH_HEADERS_REQUEST_REMOVE);
    nset = ezauth_outcome_header_count(out, EZAUTH_HEADERS_REQUEST_SET);

    for (i = 0; i < in->nelts; i++) {
        if (eh_listed(out, EZAUTH_HEADERS_REQUEST_REMOVE, nremove, in->elts[i].name)
            || eh_listed(out, EZAUTH_HEADERS_REQUEST_SET, nset, in->elts[i].name))
        {
            continue;
        }

        if (eh_headers_add(fwd, in->elts[i].name, in->elts[i].value) != 0) {
            return -1;
        }
    }

    for (i = 0; i < nset; i++) {
        if (ezauth_outcome_header(out, EZAUTH_HEADERS_REQUEST_SET, i, &h) != EZAUTH_OK) {
            return -1;
        }

        if (eh_headers_add(fwd, h.name, h.value) != 0) {
            return -1;
        }
    }

    return 0;
}


/* the echo application */

static int
eh_utf8_valid(const uint8_t *p, size_t n)
{
    size_t    i, k, need;
    uint32_t  cp;

    for (i = 0; i < n; i++) {
        if (p[i] < 0x80) {
            continue;
        }

        if (p[i] >= 0xc2 && p[i] <= 0xdf) {
            need = 1; cp = p[i] & 0x1f;
        } else if (p[i] >= 0xe0 && p[i] <= 0xef) {
            need = 2; cp = p[i] & 0x0f;
        } else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
            need = 3; cp = p[i] & 0x07;
        } else {
            return 0;
        }

        if (n - i - 1 < need) {
            return 0;
        }

        for (k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000)
            || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        {
            return 0;
        }

        i += need;
    }

    return 1;
}


/*
 * A JSON string. Bytes that are not UTF-8 are read as Latin-1 (what Node.js does with
 * header bytes), so the output is always valid JSON.
 */
static int
eh_json_string(eh_buf_t *b, ezauth_str s, int lower)
{
    int      utf8;
    char     esc[8];
    size_t   i;
    uint8_t  ch;

    utf8 = eh_utf8_valid(s.ptr, s.len);

    if (eh_buf_add(b, "\"", 1) != 0) {
        return -1;
    }

    for (i = 0; i < s.len; i++) {
        ch = s.ptr[i];

        if (lower) {
            ch = eh_lower(ch);
        }

        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char) ch;
            if (eh_buf_add(b, esc, 2) != 0) {
                return -1;
            }

        } else if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && !utf8)) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            if (eh_buf_add(b, esc, 6) != 0) {
                return -1;
            }

        } else if (eh_buf_add(b, &ch, 1) != 0) {
            return -1;
        }
    }

    return eh_buf_add(b, "\"", 1);
}


/* One member of the echo's "headers" object: every value of that name, joined. */
static int
eh_echo_header(eh_buf_t *b, const eh_headers_t *fwd, size_t first)
{
    int          rc;
    size_t       j;
    eh_buf_t     joined = { NULL, 0, 0 };
    ezauth_str   name;
    const char  *sep;

    name = fwd->elts[first].name;
    sep = eh_name_is(name, "cookie") ? "; " : ", ";
    rc = 0;

    for (j = first; j < fwd->nelts && rc == 0; j++) {
        if (!eh_str_eq_ci(fwd->elts[j].name, name)) {
            continue;
        }
        if (j > first) {
            rc = eh_buf_adds(&joined, sep);
        }
        if (rc == 0) {
            rc = eh_buf_add(&joined, fwd->elts[j].value.ptr, fwd->elts[j].value.len);
        }
    }

    if (rc == 0) {
        rc = eh_json_string(b, name, 1);
    }

    if (rc == 0) {
        rc = eh_buf_add(b, ":", 1);
    }

    if (rc == 0) {
        rc = eh_json_string(b, eh_str(joined.data, joined.len), 0);
    }

    eh_buf_free(&joined);
    return rc;
}


/*
 * {"method": ..., "path": <raw target>, "headers": {lower-cased name: value}}: the request
 * as an application behind the module sees it. Repeated headers are joined the way
 * Node.js joins them ("; " for Cookie, ", " otherwise), so the keys are unique.
 */
static int
eh_echo(const ezauth_request *req, const eh_headers_t *fwd, eh_app_response_t *app)
{
    int        comma;
    size_t     i, j;
    eh_buf_t  *b = &app->raw;

    if (eh_buf_adds(b, "{\"method\":") != 0
        || eh_json_string(b, req->method, 0) != 0
        || eh_buf_adds(b, ",\"path\":") != 0
        || eh_json_string(b, req->target, 0) != 0
        || eh_buf_adds(b, ",\"headers\":{") != 0)
    {
        return -1;
    }

    comma = 0;

    for (i = 0; i < fwd->nelts; i++) {

        for (j = 0; j < i; j++) {
            if (eh_str_eq_ci(fwd->elts[j].name, fwd->elts[i].name)) {
                break;
            }
        }

        if (j < i) {
            continue;   /* joined into its first occurrence */
        }

        if ((comma && eh_buf_add(b, ",", 1) != 0) || eh_echo_header(b, fwd, i) != 0) {
            return -1;
        }

        comma = 1;
    }

    if (eh_buf_adds(b, "}}\n") != 0) {
        return -1;
    }

    app->status = 200;
    app->body = b->data;
    app->body_len = b->len;

    return eh_headers_add(&app->headers, eh_lit("Content-Type"), eh_lit("application/json"));
}


/*
 * the upstream application, on libcurl: HTTP/1.1, one connection per request. The request
 * target goes out byte for byte (CURLOPT_REQUEST_TARGET: no dot-segment squashing, no
 * fragment cut), the edited headers as they are, and libcurl adds none of its own.
 */

/*
 * What one transfer collects: the final response's header lines (those after its status
 * line; interim 1xx responses and a chunked body's trailers are left out) and its body.
 */
typedef struct {
    eh_app_response_t  *app;
    unsigned            status;       /* of the last status line */
    unsigned            head_done:1;
    unsigned            malformed:1;
    unsigned            too_large:1;
} eh_transfer_t;


static int
eh_blank_line(const char *p, size_t len)
{
    return (len == 2 && p[0] == '\r' && p[1] == '\n') || (len == 1 && p[0] == '\n');
}


static size_t
eh_upstream_header(char *p, size_t size, size_t n, void *userdata)
{
    eh_transfer_t  *t = userdata;
    size_t          len = size * n, k;

    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0 && !t->head_done) {
        /* a status line ("HTTP/1.1 200 OK"): the lines after it belong to this response */
        for (k = 5; k < len && p[k] != ' '; k++) { /* void */ }
        t->status = (k + 4 <= len) ? (unsigned) strtoul(p + k + 1, NULL, 10) : 0;
        t->app->head.len = 0;
        return len;
    }

    if (t->head_done) {
        return len;
    }

    if (eh_blank_line(p, len)) {
        t->head_done = t->status >= 200;
        return len;
    }

    /* a line with no name, or an obs-fold continuation */
    if (memchr(p, ':', len) == NULL || p[0] == ':' || p[0] == ' ' || p[0] == '\t') {
        t->malformed = 1;
        return 0;
    }

    if (t->app->head.len + len > EH_MAX_UPSTREAM || eh_buf_add(&t->app->head, p, len) != 0) {
        t->too_large = 1;
        return 0;
    }

    return len;
}


static size_t
eh_upstream_body(char *p, size_t size, size_t n, void *userdata)
{
    eh_transfer_t  *t = userdata;
    size_t          len = size * n;

    if (t->app->raw.len + len > EH_MAX_UPSTREAM || eh_buf_add(&t->app->raw, p, len) != 0) {
        t->too_large = 1;
        return 0;
    }

    return len;
}


/* Views the collected header lines as app->headers: blanks around the name and value go. */
static int
eh_upstream_headers(eh_app_response_t *app)
{
    const char  *line, *eol, *end, *colon, *ne, *v, *ve;

    end = app->head.data + app->head.len;

    for (line = app->head.data; line < end; line = eol + 1) {
        eol = memchr(line, '\n', (size_t) (end - line));
        colon = eol ? memchr(line, ':', (size_t) (eol - line)) : NULL;
        if (colon == NULL) {
            return -1;
        }

        for (ne = colon; ne > line && (ne[-1] == ' ' || ne[-1] == '\t'); ne--) { /* void */ }
        for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++) { /* void */ }
        for (ve = eol; ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'); ve--) {
            /* void */
        }

        if (eh_headers_add(&app->headers, eh_str(line, (size_t) (ne - line)),
                           eh_str(v, (size_t) (ve - v))) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* Can libcurl send these bytes as they are? It takes C strings, one header per line. */
static int
eh_curl_safe(ezauth_str s)
{
    return memchr(s.ptr, '\0', s.len) == NULL && memchr(s.ptr, '\r', s.len) == NULL
           && memchr(s.ptr, '\n', s.len) == NULL;
}


/* Appends "name: value" ("name;" for an empty value: libcurl's spelling of one). */
static int
eh_curl_header(struct curl_slist **list, ezauth_str name, ezauth_str value)
{
    char               *line;
    struct curl_slist  *next;

    line = malloc(name.len + value.len + 3);
    if (line == NULL) {
        return -1;
    }

    memcpy(line, name.ptr, name.len);
    if (value.len) {
        memcpy(line + name.len, ": ", 2);
        memcpy(line + name.len + 2, value.ptr, value.len);
        line[name.len + 2 + value.len] = '\0';
    } else {
        memcpy(line + name.len, ";", 2);
    }

    next = curl_slist_append(*list, line);
    free(line);
    if (next == NULL) {
        return -1;
    }

    *list = next;
    return 0;
}


static int
eh_curl_line(struct curl_slist **list, const char *line)
{
    struct curl_slist  *next;

    next = curl_slist_append(*list, line);
    if (next == NULL) {
        return -1;
    }

    *list = next;
    return 0;
}


/* Returns 0 with app filled in, or the status to answer with (502, 504, 500). */
static unsigned
eh_proxy(const ezauth_request *req, const eh_headers_t *fwd, eh_app_response_t *app)
{
    int                 rc;
    char               *method, *target, error[CURL_ERROR_SIZE];
    size_t              i;
    CURL               *curl;
    CURLcode            res;
    long                code;
    curl_off_t          connected;
    eh_transfer_t       t;
    struct curl_slist  *headers = NULL;
    unsigned            status;

    status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    memset(&t, 0, sizeof(t));
    t.app = app;
    error[0] = '\0';

    method = strndup((const char *) req->method.ptr, req->method.len);
    target = strndup((const char *) req->target.ptr, req->target.len);
    curl = curl_easy_init();
    if (method == NULL || target == NULL || curl == NULL) {
        goto done;
    }

    if (!eh_curl_safe(req->method) || !eh_curl_safe(req->target)) {
        eh_log("upstream %s: a request line libcurl cannot send as it is",
               eh_upstream.authority);
        goto done;
    }

    rc = 0;
    for (i = 0; i < fwd->nelts; i++) {
        if (eh_hop_by_hop(fwd->elts[i].name)) {
            continue;
        }
        if (!eh_curl_safe(fwd->elts[i].name) || !eh_curl_safe(fwd->elts[i].value)) {
            eh_log("upstream %s: a header libcurl cannot send as it is", eh_upstream.authority);
            goto done;
        }
        rc |= eh_curl_header(&headers, fwd->elts[i].name, fwd->elts[i].value);
    }

    if (eh_find_header(fwd, "host").ptr == NULL) {
        rc |= eh_curl_header(&headers, eh_lit("Host"),
                             eh_str(eh_upstream.authority, strlen(eh_upstream.authority)));
    }

    /* "Name:" keeps libcurl from adding a Name of its own */
    if (eh_find_header(fwd, "accept").ptr == NULL) {
        rc |= eh_curl_line(&headers, "Accept:");
    }
    if (eh_find_header(fwd, "content-type").ptr == NULL) {
        rc |= eh_curl_line(&headers, "Content-Type:");
    }
    rc |= eh_curl_line(&headers, "Expect:");
    rc |= eh_curl_line(&headers, "Connection: close");

    if (rc != 0) {
        goto done;
    }

    rc = curl_easy_setopt(curl, CURLOPT_URL, eh_upstream_url) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_PROXY, "") != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_REQUEST_TARGET, target) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) EH_CONNECT_TIMEOUT) != CURLE_OK;
    /* as a socket timeout did: 60 s without a byte either way ends the transfer */
    rc |= curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long) EH_UPSTREAM_TIMEOUT) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, eh_upstream_header) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, eh_upstream_body) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t) != CURLE_OK;
    rc |= curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error) != CURLE_OK;

    if (eh_name_is(req->method, "HEAD")) {
        rc |= curl_easy_setopt(curl, CURLOPT_NOBODY, 1L) != CURLE_OK;

    } else if (req->body.len || eh_name_is(req->method, "POST")
               || eh_name_is(req->method, "PUT") || eh_name_is(req->method, "PATCH"))
    {
        /* a body, with its Content-Length (0 for an empty POST, PUT or PATCH) */
        rc |= curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body.len)
              != CURLE_OK;
        rc |= curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                               req->body.len ? (const char *) req->body.ptr : "") != CURLE_OK;
    }

    if (rc != 0) {
        goto done;
    }

    res = curl_easy_perform(curl);

    if (t.too_large) {
        eh_log("upstream %s: response too large", eh_upstream.authority);
        status = MHD_HTTP_BAD_GATEWAY;
        goto done;
    }

    if (t.malformed) {
        eh_log("upstream %s: malformed response", eh_upstream.authority);
        status = MHD_HTTP_BAD_GATEWAY;
        goto done;
    }

    if (res != CURLE_OK) {
        connected = 0;
        (void) curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connected);
        eh_log("upstream %s%s: %s", eh_upstream.authority, connected ? "" : " unreachable",
               error[0] ? error : curl_easy_strerror(res));
        status = (res == CURLE_OPERATION_TIMEDOUT && connected) ? MHD_HTTP_GATEWAY_TIMEOUT
                                                                 : MHD_HTTP_BAD_GATEWAY;
        goto done;
    }

    code = 0;
    (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 999 || !t.head_done || eh_upstream_headers(app) != 0) {
        eh_log("upstream %s: malformed response", eh_upstream.authority);
        status = MHD_HTTP_BAD_GATEWAY;
        goto done;
    }

    app->status = (unsigned) code;
    app->body = app->raw.data;
    app->body_len = app->raw.len;
    status = 0;

done:

    curl_slist_free_all(headers);
    if (curl) {
        curl_easy_cleanup(curl);
    }
    free(method);
    free(target);
    return status;
}


/* outcomes */

static enum MHD_Result
eh_finish(struct MHD_Connection *c, ezauth_outcome *out)
{
    uint16_t              status;
    ezauth_str            body;
    enum MHD_Result       rc;
    struct MHD_Response  *resp;

    status = ezauth_outcome_status(out);
    if (status < 100 || status > 999) {
        eh_log("module finished with status %u", status);
        return eh_respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
    }

    if (!eh_outcome_headers_valid(out, EZAUTH_HEADERS_RESPONSE, "response")) {
        return eh_respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
    }

    body = ezauth_outcome_body(out);

    resp = MHD_create_response_from_buffer(body.len, (void *) body.ptr, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }

    eh_response_outcome_headers(resp, out, EZAUTH_HEADERS_RESPONSE);

    rc = eh_queue(c, status, resp, 0);
    MHD_destroy_response(resp);
    return rc;
}


static enum MHD_Result
eh_continue(struct MHD_Connection *c, ezauth_outcome *out, const ezauth_request *req,
    const eh_headers_t *in)
{
    size_t                i;
    unsigned              err;
    ezauth_result         rc;
    eh_headers_t          fwd = { NULL, 0, 0 };
    enum MHD_Result       ret;
    eh_app_response_t     app;
    struct MHD_Response  *resp;

    memset(&app, 0, sizeof(app));
    ret = MHD_NO;

    if (eh_edit_headers(in, out, &fwd) != 0) {
        ret = eh_respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
        goto done;
    }

    if (eh_have_upstream) {
        err = eh_proxy(req, &fwd, &app);
    } else {
        err = eh_echo(req, &fwd, &app) == 0 ? 0 : MHD_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* fwd views the outcome's REQUEST_SET list, which send_response invalidates */
    free(fwd.elts);
    fwd.elts = NULL;

    if (err) {
        ret = eh_respond_text(c, err, err == MHD_HTTP_BAD_GATEWAY ? "bad gateway\n"
                                      : err == MHD_HTTP_GATEWAY_TIMEOUT ? "gateway timeout\n"
                                      : "internal error\n");
        goto done;
    }

    rc = ezauth_module_send_response(out, app.headers.elts, app.headers.nelts);
    if (rc != EZAUTH_OK) {
        /* the application's answer still stands; only the module's additions are lost */
        eh_log("ezauth_module_send_response: %s", ezauth_result_name(rc));
    }

    resp = MHD_create_response_from_buffer(app.body_len, (void *) app.body,
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        goto done;
    }

    for (i = 0; i < app.headers.nelts; i++) {
        eh_response_header(resp, &app.headers.elts[i]);
    }

    if (rc == EZAUTH_OK) {
        eh_response_outcome_headers(resp, out, EZAUTH_HEADERS_RESPONSE_ADD);
    }

    ret = eh_queue(c, app.status, resp, 0);
    MHD_destroy_response(resp);

done:

    free(fwd.elts);
    free(app.headers.elts);
    eh_buf_free(&app.head);
    eh_buf_free(&app.raw);
    return ret;
}


static enum MHD_Result
eh_handle(struct MHD_Connection *c, eh_request_t *r, const char *method)
{
    char              addr[INET6_ADDRSTRLEN];
    ezauth_str        target, host;
    eh_headers_t      in = { NULL, 0, 0 };
    ezauth_action     action;
    ezauth_result     rc;
    ezauth_request    req;
    enum MHD_Result   ret;
    ezauth_outcome   *out = NULL;

    if (MHD_get_connection_values_n(c, MHD_HEADER_KIND, eh_collect_header, &in) < 0) {
        ret = MHD_NO;
        goto done;
    }

    target = eh_str(r->target, r->target_len);
    host = eh_str(r->host, r->host_len);

    if (host.len == 0) {
        host = eh_find_header(&in, "host");
    }

    if (host.len == 0) {
        /* HTTP/1.0 without Host: the address we listen on is the best guess */
        host = eh_str(eh_listen.authority, strlen(eh_listen.authority));
    }

    eh_client_addr(c, addr, sizeof(addr));

    req.method = eh_str(method, strlen(method));
    req.target = target;
    req.scheme = eh_lit("http");
    req.host = host;
    req.client_addr = eh_str(addr, strlen(addr));
    req.headers = in.elts;
    req.header_count = in.nelts;
    req.body = eh_str(r->body.data, r->body.len);

    /* addr outlives the outcome (freed below, in this function): the request's log tag */
    rc = ezauth_module_begin_request(eh_module, &req, addr, &out);
    if (rc != EZAUTH_OK) {
        eh_log("ezauth_module_begin_request: %s", ezauth_result_name(rc));
        out = NULL;
        ret = eh_respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
        goto done;
    }

    action = ezauth_outcome_action(out);

    if (action == EZAUTH_ACTION_BLOCKING) {
        /*
         * Every connection has its own thread here (MHD_USE_THREAD_PER_CONNECTION), so
         * blocking it stalls this client only. An event-driven host (nginx) must hand this
         * step to a thread pool instead.
         */
        rc = ezauth_outcome_run_blocking(out);
        if (rc != EZAUTH_OK) {
            eh_log("ezauth_outcome_run_blocking: %s", ezauth_result_name(rc));
            ret = eh_respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
            goto done;
        }

        action = ezauth_outcome_action(out);
    }

    switch (action) {

    case EZAUTH_ACTION_FINISH:
        ret = eh_finish(c, out);
        break;

    case EZAUTH_ACTION_CONTINUE:
        ret = eh_continue(c, out, &req, &in);
        break;

    default:
        eh_log("unexpected module action %u", (unsigned) action);
        ret = eh_respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
        break;
    }

done:

    ezauth_outcome_free(out);
    free(in.elts);
    return ret;
}


/* slow clients: request head and body deadlines */

static int64_t
eh_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


typedef enum {
    EH_HEAD_OPENED,     /* a new connection: its first request head is due */
    EH_HEAD_LINE,       /* a request line is in: its headers are due */
    EH_HEAD_DONE,       /* the head is in: its body is due */
    EH_BODY_DONE,       /* the whole request is in: no deadline while it runs */
    EH_HEAD_NEXT        /* a response is done: the next request is due (keep-alive) */
} eh_head_t;


/*
 * Moves a connection's deadline. The first request head is due header_timeout seconds
 * after the connection opens. On a kept-alive connection the next request may start up
 * to idle_timeout seconds after the previous response, and its headers are due
 * header_timeout seconds after its request line. A request's body (declared by its head,
 * with Content-Length or chunked) is due body_timeout seconds after the head is in, so a
 * whole request takes at most header_timeout + body_timeout. Each deadline is fixed when
 * set: bytes that trickle in do not extend it, as they extend libmicrohttpd's idle timeout.
 */
static void
eh_head_deadline(eh_conn_t *conn, eh_head_t what)
{
    int64_t  now, due;

    if (conn == NULL) {
        return;
    }

    now = eh_now_ms();

    pthread_mutex_lock(&eh_conns.lock);

    conn->body = 0;

    switch (what) {

    case EH_HEAD_OPENED:
        conn->deadline = eh_conns.header_timeout
                         ? now + (int64_t) eh_conns.header_timeout * 1000 : 0;
        break;

    case EH_HEAD_LINE:
        if (eh_conns.header_timeout) {
            due = now + (int64_t) eh_conns.header_timeout * 1000;
            if (conn->deadline == 0 || due < conn->deadline) {
                conn->deadline = due;
            }
        }
        break;

    case EH_HEAD_DONE:
        conn->deadline = eh_conns.body_timeout
                         ? now + (int64_t) eh_conns.body_timeout * 1000 : 0;
        conn->body = 1;
        break;

    case EH_BODY_DONE:
        conn->deadline = 0;
        break;

    case EH_HEAD_NEXT:
        conn->deadline = (eh_conns.header_timeout && eh_conns.idle_timeout)
                         ? now + (int64_t) eh_conns.idle_timeout * 1000 : 0;
        break;
    }

    pthread_mutex_unlock(&eh_conns.lock);
}


static eh_conn_t *
eh_conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo  *ci;

    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}


static void
eh_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
    eh_conn_t                       *conn;
    const union MHD_ConnectionInfo  *ci;

    (void) cls;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn = calloc(1, sizeof(eh_conn_t));

        if (conn == NULL || ci == NULL) {
            /* the connection goes on without deadlines; the idle timeout holds */
            eh_log("no memory to watch a connection's request deadlines");
            free(conn);
            return;
        }

        conn->fd = ci->connect_fd;
        eh_client_addr(c, conn->addr, sizeof(conn->addr));
        eh_head_deadline(conn, EH_HEAD_OPENED);

        pthread_mutex_lock(&eh_conns.lock);
        conn->prev = eh_conns.list.prev;
        conn->next = &eh_conns.list;
        eh_conns.list.prev->next = conn;
        eh_conns.list.prev = conn;
        pthread_mutex_unlock(&eh_conns.lock);

        *socket_context = conn;
        return;
    }

    conn = *socket_context;
    if (conn == NULL) {
        return;
    }

    /* before libmicrohttpd closes the socket: the watchdog never touches a reused fd */
    pthread_mutex_lock(&eh_conns.lock);
    conn->prev->next = conn->next;
    conn->next->prev = conn->prev;
    pthread_mutex_unlock(&eh_conns.lock);

    free(conn);
    *socket_context = NULL;
}


/*
 * Every EH_WATCH_MS, shuts down the sockets of connections whose request head or body is
 * past its deadline; the connection's own thread then reads the end of the stream and
 * libmicrohttpd closes the connection (and frees its place under -m and -p). One log
 * line for each kind, counting them.
 */
static void *
eh_watchdog(void *arg)
{
    char              addr[2][INET6_ADDRSTRLEN];
    int64_t           now;
    unsigned          n[2], k;
    eh_conn_t        *conn;
    struct timespec   until;

    (void) arg;

    pthread_mutex_lock(&eh_conns.lock);

    while (!eh_conns.stop) {
        now = eh_now_ms();
        n[0] = n[1] = 0;

        for (conn = eh_conns.list.next; conn != &eh_conns.list; conn = conn->next) {
            if (conn->deadline == 0 || conn->shut || now < conn->deadline) {
                continue;
            }

            (void) shutdown(conn->fd, SHUT_RDWR);
            conn->shut = 1;

            k = conn->body;
            if (n[k]++ == 0) {
                memcpy(addr[k], conn->addr, sizeof(addr[k]));
            }
        }

        if (n[0] || n[1]) {
            pthread_mutex_unlock(&eh_conns.lock);
            if (n[0]) {
                eh_log("closed %u connection%s (the first from %s) whose request head was "
                       "not complete within %u s", n[0], n[0] == 1 ? "" : "s",
                       addr[0][0] ? addr[0] : "?", eh_conns.header_timeout);
            }
            if (n[1]) {
                eh_log("closed %u connection%s (the first from %s) whose request body was "
                       "not complete within %u s of its head", n[1], n[1] == 1 ? "" : "s",
                       addr[1][0] ? addr[1] : "?", eh_conns.body_timeout);
            }
            pthread_mutex_lock(&eh_conns.lock);
        }

        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += EH_WATCH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }

        while (!eh_conns.stop
               && pthread_cond_timedwait(&eh_conns.wake, &eh_conns.lock, &until) == 0)
        {
            /* woken early, but not to stop: wait out the period */
        }
    }

    pthread_mutex_unlock(&eh_conns.lock);

    return NULL;
}


static int
eh_watchdog_start(pthread_t *tid)
{
    int                 rc;
    pthread_condattr_t  attr;

    if (eh_conns.header_timeout == 0 && eh_conns.body_timeout == 0) {
        return 0;
    }

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&eh_conns.wake, &attr);
    pthread_condattr_destroy(&attr);

    if (rc != 0) {
        return -1;
    }

    rc = pthread_create(tid, NULL, eh_watchdog, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&eh_conns.wake);
        return -1;
    }

    return 1;
}


static void
eh_watchdog_stop(pthread_t tid)
{
    pthread_mutex_lock(&eh_conns.lock);
    eh_conns.stop = 1;
    pthread_cond_signal(&eh_conns.wake);
    pthread_mutex_unlock(&eh_conns.lock);

    pthread_join(tid, NULL);
    pthread_cond_destroy(&eh_conns.wake);
}


/* libmicrohttpd callbacks */

/*
 * Called once per request with the raw target, before MHD splits and unescapes it. An
 * absolute-form target (a client talking to us as to a proxy) carries the host: split it
 * off, so the module always sees an origin-form path and query, as the ABI promises.
 */
static void *
eh_uri_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
    size_t         n, skip;
    const char    *p;
    eh_request_t  *r;

    (void) cls;

    /* the request line is in: its headers are due */
    eh_head_deadline(eh_conn_of(c), EH_HEAD_LINE);

    r = calloc(1, sizeof(eh_request_t));
    if (r == NULL) {
        return NULL;
    }

    skip = 0;
    if (strncasecmp(uri, "http://", 7) == 0) {
        skip = 7;
    } else if (strncasecmp(uri, "https://", 8) == 0) {
        skip = 8;
    }

    if (skip) {
        uri += skip;
        n = strcspn(uri, "/?");

        r->host = malloc(n + 1);
        if (r->host == NULL) {
            free(r);
            return NULL;
        }
        memcpy(r->host, uri, n);
        r->host[n] = '\0';
        r->host_len = n;
        uri += n;
    }

    n = strlen(uri);

    /* room for the "/" an absolute-form target without a path leaves out */
    r->target = malloc(n + 2);
    if (r->target == NULL) {
        free(r->host);
        free(r);
        return NULL;
    }

    p = (skip && uri[0] != '/') ? "/" : "";
    r->target_len = (size_t) snprintf(r->target, n + 2, "%s%s", p, uri);

    return r;
}


static void
eh_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
    eh_request_t  *r = *con_cls;

    (void) cls;
    (void) toe;

    /* a kept-alive connection waits for its next request, within the idle timeout */
    eh_head_deadline(eh_conn_of(c), EH_HEAD_NEXT);

    if (r) {
        eh_buf_free(&r->body);
        free(r->target);
        free(r->host);
        free(r);
        *con_cls = NULL;
    }
}


static int
eh_length_exceeds(const char *v, size_t max)
{
    size_t  n = 0;

    for ( /* void */ ; *v; v++) {
        if (*v < '0' || *v > '9') {
            return 0;   /* MHD judges malformed lengths itself */
        }
        n = n * 10 + (size_t) (*v - '0');
        if (n > max) {
            return 1;
        }
    }

    return 0;
}


static enum MHD_Result
eh_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    char             buf[EH_PRINTABLE];
    size_t           n;
    unsigned         status;
    const char      *cl;
    const uint8_t   *cut;
    eh_request_t    *r = *con_cls;
    eh_bad_header_t  bad;

    (void) cls;
    (void) url;

    if (r == NULL) {
        return MHD_NO;   /* the URI callback ran out of memory */
    }

    if (!r->started) {
        r->started = 1;

        /*
         * the head is in: its body is due. An answer queued below, before the body, closes
         * the connection once written; the deadline stays for a client that does not read.
         */
        eh_head_deadline(eh_conn_of(c), EH_HEAD_DONE);

        /* before the module is called, and before any body is read */
        memset(&bad, 0, sizeof(bad));
        (void) MHD_get_connection_values_n(c, MHD_HEADER_KIND, eh_find_bad_header, &bad);
        eh_head_nul(c, method, &bad);
        if (bad.why != NULL && bad.name.ptr == NULL) {
            /* the name holds the fold line's text, which may be a value: not logged */
            eh_log("refused a request with a header %s", bad.why);
            return eh_respond_close(c, MHD_HTTP_BAD_REQUEST, "invalid header\n", 1);
        }

        if (bad.why != NULL) {
            /* libmicrohttpd glues an obs-fold line, value and all, to a name: cut at ':' */
            cut = memchr(bad.name.ptr, ':', bad.name.len);
            eh_log("refused a request with an invalid header \"%s\"%s: %s",
                   eh_printable(eh_str(bad.name.ptr,
                                       cut ? (size_t) (cut - bad.name.ptr) : bad.name.len),
                                buf, sizeof(buf)),
                   cut ? " (cut at its ':')" : "", bad.why);
            return eh_respond_close(c, MHD_HTTP_BAD_REQUEST, "invalid header\n", 1);
        }

        /* before the body is read: queued now, the answer closes the connection */
        status = eh_framing(c, version);
        if (status) {
            return eh_respond_close(c, status, status == MHD_HTTP_NOT_IMPLEMENTED
                                               ? "unknown transfer coding\n"
                                               : "invalid request framing\n", 1);
        }

        /* RFC 9112 3.2: an HTTP/1.1 request without Host is a 400 (nginx agrees) */
        if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0
            && MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST) == NULL)
        {
            return eh_respond_text(c, MHD_HTTP_BAD_REQUEST, "missing Host header\n");
        }

        /* refuse a declared oversized body before reading it: no 100 Continue is sent */
        cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && eh_length_exceeds(cl, EH_MAX_BODY)) {
            return eh_respond_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
        }

        return MHD_YES;
    }

    if (*upload_data_size) {
        n = *upload_data_size;
        *upload_data_size = 0;

        if (!r->too_large && r->body.len + n > EH_MAX_BODY) {
            /* a chunked body grew too large: MHD lets us answer only at its end */
            r->too_large = 1;
            eh_buf_free(&r->body);
        }

        if (r->too_large) {
            r->discarded += n;
            return r->discarded > EH_MAX_DISCARD ? MHD_NO : MHD_YES;
        }

        return eh_buf_add(&r->body, upload_data, n) == 0 ? MHD_YES : MHD_NO;
    }

    /* the whole request is in: it runs (the module, the upstream) with no deadline of ours */
    eh_head_deadline(eh_conn_of(c), EH_BODY_DONE);

    if (r->too_large) {
        return eh_respond_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
    }

    return eh_handle(c, r, method);
}


/* startup */

static int
eh_parse_addr(const char *spec, int passive, eh_addr_t *a)
{
    int               rc;
    size_t            n;
    const char       *colon, *host, *port;
    struct addrinfo   hints, *res;
    char              buf[256];

    if (spec[0] == '[') {
        colon = strchr(spec, ']');
        if (colon == NULL || colon[1] != ':') {
            return -1;
        }
        host = spec + 1;
        n = (size_t) (colon - host);
        port = colon + 2;

    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL) {
            return -1;
        }
        host = spec;
        n = (size_t) (colon - host);
        port = colon + 1;
    }

    if (n == 0 || n >= sizeof(buf) || *port == '\0') {
        return -1;
    }

    memcpy(buf, host, n);
    buf[n] = '\0';

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);

    rc = getaddrinfo(buf, port, &hints, &res);
    if (rc != 0) {
        eh_log("%s: %s", spec, gai_strerror(rc));
        return -1;
    }

    memcpy(&a->addr, res->ai_addr, res->ai_addrlen);
    a->addrlen = res->ai_addrlen;
    freeaddrinfo(res);

    snprintf(a->host, sizeof(a->host), "%s%s%s",
             strchr(buf, ':') ? "[" : "", buf, strchr(buf, ':') ? "]" : "");
    a->port = (unsigned) atoi(port);
    snprintf(a->authority, sizeof(a->authority), "%s:%u", a->host, a->port);

    return 0;
}


static void
eh_usage(void)
{
    fprintf(stderr,
            "usage: ezauth-host -l ADDR:PORT -c CONFIG [-u HOST:PORT] [-v]\n"
            "                   [-m MAX] [-p PER_IP] [-t SECONDS] [-b SECONDS] [-i SECONDS]\n"
            "  -l  address to listen on (port 0 picks a free one)\n"
            "  -c  authsettingsV2 JSON configuration of the ezauth module\n"
            "  -u  upstream application; without it a built-in echo app answers\n"
            "  -v  also print the module's DEBUG log lines\n"
            "  -m  connections open at once, in all (default %u); more are closed at once\n"
            "  -p  connections open at once from one client address (default %u; 0: no limit)\n"
            "  -t  seconds for a request line and headers to arrive, however slowly the bytes\n"
            "      come (default %u; 0: no limit)\n"
            "  -b  seconds for a request body to arrive once its head is in, however slowly\n"
            "      the bytes come (default %u; 0: no limit)\n"
            "  -i  seconds a connection may stay silent, and a kept-alive one may wait for\n"
            "      its next request (default %u; 0: no limit)\n",
            EH_MAX_CONNECTIONS, EH_MAX_PER_IP, EH_HEADER_TIMEOUT, EH_BODY_TIMEOUT,
            EH_IDLE_TIMEOUT);
}


/* A number option: digits only, min..max; -1 when it is not. */
static long
eh_number(const char *s, long min, long max)
{
    long   n;
    char  *end;

    if (*s < '0' || *s > '9') {
        return -1;
    }

    errno = 0;
    n = strtol(s, &end, 10);

    if (errno != 0 || *end != '\0' || n < min || n > max) {
        return -1;
    }

    return n;
}


int
main(int argc, char **argv)
{
    int                             ch, sig, watching;
    long                            max_conns, per_ip, n;
    unsigned                        flags;
    pthread_t                       watchdog;
    const char                     *listen, *config, *upstream;
    char                            addr[INET6_ADDRSTRLEN];
    sigset_t                        set;
    siginfo_t                       si;
    ezauth_str                      msg;
    ezauth_error                   *err;
    ezauth_result                   rc;
    struct MHD_Daemon              *d;
    const union MHD_DaemonInfo     *info;

    /* before any other call: the library must speak the ABI this host was built for */
    if (ezauth_abi_version() != EZAUTH_ABI_VERSION) {
        eh_log("libezauth ABI version %u, this host needs %u",
               ezauth_abi_version(), (unsigned) EZAUTH_ABI_VERSION);
        return 2;
    }

    listen = NULL;
    config = NULL;
    upstream = NULL;
    max_conns = EH_MAX_CONNECTIONS;
    per_ip = EH_MAX_PER_IP;
    eh_conns.header_timeout = EH_HEADER_TIMEOUT;
    eh_conns.body_timeout = EH_BODY_TIMEOUT;
    eh_conns.idle_timeout = EH_IDLE_TIMEOUT;

    while ((ch = getopt(argc, argv, "l:c:u:vm:p:t:b:i:h")) != -1) {
        n = 0;

        switch (ch) {
        case 'l': listen = optarg; break;
        case 'c': config = optarg; break;
        case 'u': upstream = optarg; break;
        case 'v': eh_log_conf.verbose = 1; break;
        case 'm': n = max_conns = eh_number(optarg, 1, 65535); break;
        case 'p': n = per_ip = eh_number(optarg, 0, 65535); break;
        case 't': n = eh_number(optarg, 0, 86400); eh_conns.header_timeout = (unsigned) n; break;
        case 'b': n = eh_number(optarg, 0, 86400); eh_conns.body_timeout = (unsigned) n; break;
        case 'i': n = eh_number(optarg, 0, 86400); eh_conns.idle_timeout = (unsigned) n; break;
        default:  eh_usage(); return ch == 'h' ? 0 : 1;
        }

        if (n < 0) {
            eh_log("bad value \"%s\" for -%c", optarg, ch);
            eh_usage();
            return 1;
        }
    }

    if (listen == NULL || config == NULL || optind != argc) {
        eh_usage();
        return 1;
    }

    if (eh_parse_addr(listen, 1, &eh_listen) != 0) {
        eh_log("bad listen address \"%s\" (want ADDR:PORT)", listen);
        return 1;
    }

    if (upstream) {
        if (eh_parse_addr(upstream, 0, &eh_upstream) != 0) {
            eh_log("bad upstream address \"%s\" (want HOST:PORT)", upstream);
            return 1;
        }
        eh_have_upstream = 1;

        /* the address resolved once, at startup, as the Host header's authority was */
        if (getnameinfo((struct sockaddr *) &eh_upstream.addr, eh_upstream.addrlen, addr,
                        sizeof(addr), NULL, 0, NI_NUMERICHOST) != 0)
        {
            eh_log("bad upstream address \"%s\"", upstream);
            return 1;
        }
        snprintf(eh_upstream_url, sizeof(eh_upstream_url), "http://%s%s%s:%u",
                 strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "",
                 eh_upstream.port);

        /* before any thread starts: libcurl's global setup is not thread-safe */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            eh_log("cannot initialize libcurl");
            return 1;
        }
    }

    /*
     * Signals go to sigwait() in this thread only: block them before any thread starts
     * (libmicrohttpd's threads and the module's inherit the mask).
     */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    err = NULL;
    rc = ezauth_module_new(eh_str(config, strlen(config)), eh_log_module, &eh_log_conf,
                           &eh_module, &err);
    if (rc != EZAUTH_OK) {
        msg = ezauth_error_message(err);
        eh_log("cannot load %s: %s: %.*s", config, ezauth_result_name(rc),
               (int) msg.len, msg.len ? (const char *) msg.ptr : "");
        ezauth_error_free(err);
        return 2;
    }
    /* this process serves the requests itself: its own user must be able to use the store */
    err = NULL;
    rc = ezauth_module_check_store(eh_module, (uint32_t) geteuid(), (uint32_t) getegid(),
                                   eh_str("", 0), &err);
    if (rc != EZAUTH_OK) {
        msg = ezauth_error_message(err);
        eh_log("cannot load %s: %s: %.*s", config, ezauth_result_name(rc),
               (int) msg.len, msg.len ? (const char *) msg.ptr : "");
        ezauth_error_free(err);
        return 2;
    }

    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO
            | MHD_USE_ERROR_LOG;
    if (eh_listen.addr.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }

    /* the logger goes first so that every message of MHD's own goes through it */
    d = MHD_start_daemon(flags, (uint16_t) eh_listen.port, NULL, NULL, eh_access, NULL,
                         MHD_OPTION_EXTERNAL_LOGGER, eh_log_mhd, NULL,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &eh_listen.addr,
                         MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1,
                         MHD_OPTION_URI_LOG_CALLBACK, eh_uri_cb, NULL,
                         MHD_OPTION_NOTIFY_COMPLETED, eh_completed, NULL,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) EH_MEMORY_LIMIT,
                         MHD_OPTION_NOTIFY_CONNECTION, eh_notify_connection, NULL,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned) max_conns,
                         MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) per_ip,
                         MHD_OPTION_CONNECTION_TIMEOUT, eh_conns.idle_timeout,
                         MHD_OPTION_END);
    if (d == NULL) {
        eh_log("cannot listen on %s", listen);
        ezauth_module_free(eh_module);
        return 1;
    }

    watching = eh_watchdog_start(&watchdog);
    if (watching < 0) {
        eh_log("cannot start the thread that enforces request deadlines");
        MHD_stop_daemon(d);
        ezauth_module_free(eh_module);
        return 1;
    }

    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port) {
        eh_listen.port = info->port;
        snprintf(eh_listen.authority, sizeof(eh_listen.authority), "%s:%u",
                 eh_listen.host, eh_listen.port);
    }

    printf("listening on http://%s\n", eh_listen.authority);
    fflush(stdout);

    do {
        sig = sigwaitinfo(&set, &si);
    } while (sig < 0);

    eh_log("%s from pid %ld, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM",
           (long) si.si_pid);

    /* stops accepting, closes connections and joins their threads: no request is in flight */
    MHD_stop_daemon(d);

    if (watching) {
        eh_watchdog_stop(watchdog);
    }
    ezauth_module_free(eh_module);
    if (eh_have_upstream) {
        curl_global_cleanup();
    }

    return 0;
}
