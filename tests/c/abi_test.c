/*
 * C ABI tests of libezauth: what a C host relies on, checked from C, with the header as
 * the only contract. Built with -Wall -Wextra -Werror and, by `make -C native-host asan`,
 * under AddressSanitizer + UBSan (LeakSanitizer catches an outcome or error not freed).
 *
 *     abi_test [NAME...]     runs every test, or those named; exit status 1 on a failure
 */

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ezauth.h"


#define S(lit)        ((ezauth_str) { (const uint8_t *) (lit), sizeof(lit) - 1 })
#define SN(p, n)      ((ezauth_str) { (const uint8_t *) (p), (n) })
#define H(n, v)       { S(n), S(v) }
#define NELTS(a)      (sizeof(a) / sizeof((a)[0]))

/* A pointer no library may write: outputs are written only on success. */
#define POISON        ((void *) (uintptr_t) 0x5a5a5a5a)


static int          failures;
static const char  *current;
static char         tmpdir[] = "/tmp/ezauth-abi-XXXXXX";
static char         config_path[256];


#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fail(__LINE__, "%s", #cond);                                      \
        }                                                                     \
    } while (0)

#define CHECK_RC(got, want)                                                   \
    do {                                                                      \
        ezauth_result  got_ = (got), want_ = (want);                          \
        if (got_ != want_) {                                                  \
            fail(__LINE__, "%s is %s, want %s", #got,                         \
                 ezauth_result_name(got_), ezauth_result_name(want_));        \
        }                                                                     \
    } while (0)


static void fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fail(int line, const char *fmt, ...)
{
    va_list  ap;

    failures++;
    printf("  %s: abi_test.c:%d: ", current, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}


static int
str_is(ezauth_str s, const char *want)
{
    size_t  n = strlen(want);

    return s.len == n && (n == 0 || memcmp(s.ptr, want, n) == 0);
}


static int
str_contains(ezauth_str s, const char *needle)
{
    size_t  i, n = strlen(needle);

    for (i = 0; i + n <= s.len; i++) {
        if (memcmp(s.ptr + i, needle, n) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
name_is_ci(ezauth_str s, const char *want)
{
    size_t  i, n = strlen(want);

    if (s.len != n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((s.ptr[i] | 0x20) != (want[i] | 0x20)) {
            return 0;
        }
    }

    return 1;
}


static void
write_file(const char *path, const char *text)
{
    FILE  *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}


/* A module that should not have been created: free it so the leak checker stays quiet. */
static void
discard(ezauth_module **m)
{
    if (*m != POISON) {
        ezauth_module_free(*m);
    }

    *m = POISON;
}


/* A module from the minimal configuration; NULL (and a failure) when it cannot load. */
static ezauth_module *
new_module(ezauth_log_callback log, void *userdata)
{
    ezauth_error   *err = NULL;
    ezauth_module  *m = NULL;
    ezauth_result   rc;
    ezauth_str      msg;

    rc = ezauth_module_new(SN(config_path, strlen(config_path)), log, userdata, &m, &err);
    if (rc != EZAUTH_OK) {
        msg = ezauth_error_message(err);
        fail(__LINE__, "module_new: %s: %.*s", ezauth_result_name(rc), (int) msg.len,
             msg.len ? (const char *) msg.ptr : "");
        ezauth_error_free(err);
        return NULL;
    }

    return m;
}


static ezauth_request
get_request(const char *target, const ezauth_header *headers, size_t n)
{
    ezauth_request  r;

    memset(&r, 0, sizeof(r));
    r.method = S("GET");
    r.target = SN(target, strlen(target));
    r.scheme = S("http");
    r.host = S("app.example");
    r.client_addr = S("127.0.0.1");
    r.headers = headers;
    r.header_count = n;
    return r;
}


/* tests */

static void
test_abi_version(void)
{
    CHECK(ezauth_abi_version() == EZAUTH_ABI_VERSION);
}


static void
test_version(void)
{
    ezauth_str  v = ezauth_version();

    CHECK(v.ptr != NULL);
    CHECK(str_is(v, EZAUTH_VERSION));
}


static void
test_result_names(void)
{
    static const struct {
        uint32_t     code;
        const char  *name;
    } codes[] = {
        { EZAUTH_OK, "EZAUTH_OK" },
        { EZAUTH_NULL_PARAMETER, "EZAUTH_NULL_PARAMETER" },
        { EZAUTH_PANIC, "EZAUTH_PANIC" },
        { EZAUTH_INVALID_UTF8, "EZAUTH_INVALID_UTF8" },
        { EZAUTH_INVALID_PARAMETER, "EZAUTH_INVALID_PARAMETER" },
        { EZAUTH_WRONG_STATE, "EZAUTH_WRONG_STATE" },
        { EZAUTH_CONFIG_UNREADABLE, "EZAUTH_CONFIG_UNREADABLE" },
        { EZAUTH_CONFIG_INVALID, "EZAUTH_CONFIG_INVALID" },
        { EZAUTH_STORE_UNUSABLE, "EZAUTH_STORE_UNUSABLE" },
    };
    static const uint32_t  unknown[] = { 6, 7, 99, 103, 1000, 0xffffffff };
    size_t                 i;
    const char            *name;

    /* the numbers are part of the ABI: they must never change */
    CHECK(EZAUTH_OK == 0 && EZAUTH_NULL_PARAMETER == 1 && EZAUTH_PANIC == 2);
    CHECK(EZAUTH_INVALID_UTF8 == 3 && EZAUTH_INVALID_PARAMETER == 4 && EZAUTH_WRONG_STATE == 5);
    CHECK(EZAUTH_CONFIG_UNREADABLE == 100 && EZAUTH_CONFIG_INVALID == 101);
    CHECK(EZAUTH_STORE_UNUSABLE == 102);

    for (i = 0; i < NELTS(codes); i++) {
        name = ezauth_result_name(codes[i].code);
        if (name == NULL || strcmp(name, codes[i].name) != 0) {
            fail(__LINE__, "ezauth_result_name(%u) is \"%s\", want \"%s\"",
                 codes[i].code, name ? name : "(null)", codes[i].name);
        }
    }

    for (i = 0; i < NELTS(unknown); i++) {
        name = ezauth_result_name(unknown[i]);
        if (name == NULL || strcmp(name, "EZAUTH_UNKNOWN") != 0) {
            fail(__LINE__, "ezauth_result_name(%u) is \"%s\", want EZAUTH_UNKNOWN",
                 unknown[i], name ? name : "(null)");
        }
    }
}


static void
test_module_new_null_out(void)
{
    ezauth_error  *err = POISON;

    CHECK_RC(ezauth_module_new(SN(config_path, strlen(config_path)), NULL, NULL, NULL, &err),
             EZAUTH_NULL_PARAMETER);
    CHECK(err == POISON);
}


static void
test_module_new_missing_file(void)
{
    char            path[300];
    ezauth_str      msg;
    ezauth_error   *err = NULL;
    ezauth_module  *m = POISON;

    snprintf(path, sizeof(path), "%s/no-such-config.json", tmpdir);

    CHECK_RC(ezauth_module_new(SN(path, strlen(path)), NULL, NULL, &m, &err),
             EZAUTH_CONFIG_UNREADABLE);
    CHECK(m == POISON);
    CHECK(err != NULL);
    discard(&m);

    if (err) {
        CHECK_RC(ezauth_error_code(err), EZAUTH_CONFIG_UNREADABLE);
        msg = ezauth_error_message(err);
        CHECK(msg.len > 0);
        CHECK(str_contains(msg, "no-such-config.json"));
        ezauth_error_free(err);
    }

    /* without error_out the code alone comes back, and nothing leaks */
    m = POISON;
    CHECK_RC(ezauth_module_new(SN(path, strlen(path)), NULL, NULL, &m, NULL),
             EZAUTH_CONFIG_UNREADABLE);
    CHECK(m == POISON);
    discard(&m);
}


static void
test_module_new_invalid_config(void)
{
    char            path[300];
    ezauth_str      msg;
    ezauth_error   *err = NULL;
    ezauth_module  *m = POISON;

    /* an unknown setting is a startup error naming it, never silently ignored */
    snprintf(path, sizeof(path), "%s/unknown-field.json", tmpdir);
    write_file(path, "{\"platform\":{\"enabled\":true},\"globalValidation\":"
                     "{\"unauthenticatedClientAction\":\"AllowAnonymous\","
                     "\"bogusSetting\":1}}");

    CHECK_RC(ezauth_module_new(SN(path, strlen(path)), NULL, NULL, &m, &err),
             EZAUTH_CONFIG_INVALID);
    CHECK(m == POISON);
    discard(&m);

    if (err) {
        CHECK_RC(ezauth_error_code(err), EZAUTH_CONFIG_INVALID);
        msg = ezauth_error_message(err);
        CHECK(str_contains(msg, "bogusSetting"));
        ezauth_error_free(err);
        err = NULL;

    } else {
        fail(__LINE__, "no error for an unknown setting");
    }

    /* an ill-typed one too */
    snprintf(path, sizeof(path), "%s/ill-typed.json", tmpdir);
    write_file(path, "{\"platform\":{\"enabled\":\"yes\"}}");

    CHECK_RC(ezauth_module_new(SN(path, strlen(path)), NULL, NULL, &m, &err),
             EZAUTH_CONFIG_INVALID);
    CHECK(m == POISON);
    discard(&m);

    if (err) {
        CHECK(str_contains(ezauth_error_message(err), "enabled"));
        ezauth_error_free(err);

    } else {
        fail(__LINE__, "no error for an ill-typed setting");
    }

    /* not JSON at all */
    snprintf(path, sizeof(path), "%s/garbage.json", tmpdir);
    write_file(path, "{\"platform\":");

    CHECK_RC(ezauth_module_new(SN(path, strlen(path)), NULL, NULL, &m, NULL),
             EZAUTH_CONFIG_INVALID);
    CHECK(m == POISON);
    discard(&m);
}


static void
test_module_new_bad_utf8_path(void)
{
    ezauth_module  *m = POISON;
    static const char  path[] = "/tmp/\xff\xfe.json";

    CHECK_RC(ezauth_module_new(S(path), NULL, NULL, &m, NULL), EZAUTH_INVALID_UTF8);
    CHECK(m == POISON);
    discard(&m);
}


static void
test_free_null(void)
{
    ezauth_module_free(NULL);
    ezauth_error_free(NULL);
    ezauth_outcome_free(NULL);
}


static void
test_module_new_ok(void)
{
    ezauth_module  *m = new_module(NULL, NULL);

    CHECK(m != NULL);
    ezauth_module_free(m);
}


/*
 * ezauth_module_check_store: nothing to check without a token store; loading makes nothing;
 * the store directory is made (owner-only) by the check as the caller; another user who
 * cannot enter the directory's parent (/tmp/ezauth-abi-*, 0700), or a caller that is not root
 * asking for another user, is refused with a message naming the directory and the user.
 */
static void
test_check_store(void)
{
    char             path[512], tokens[512], json[1024];
    ezauth_error    *err = POISON;
    ezauth_module   *m, *plain;
    ezauth_str       msg;
    struct stat      st;

    CHECK_RC(ezauth_module_check_store(NULL, geteuid(), getegid(), S(""), &err),
             EZAUTH_NULL_PARAMETER);
    CHECK(err == POISON);

    plain = new_module(NULL, NULL);
    if (plain == NULL) {
        return;
    }
    CHECK_RC(ezauth_module_check_store(plain, 65534, 65534, S(""), NULL), EZAUTH_OK);
    ezauth_module_free(plain);

    snprintf(path, sizeof(path), "%s/store.json", tmpdir);
    snprintf(tokens, sizeof(tokens), "%s/tokens", tmpdir);
    snprintf(json, sizeof(json),
             "{\"globalValidation\":{\"unauthenticatedClientAction\":\"AllowAnonymous\"},"
             "\"login\":{\"tokenStore\":{\"enabled\":true,"
             "\"fileSystem\":{\"directory\":\"%s\"}}}}", tokens);
    write_file(path, json);

    m = NULL;
    err = NULL;
    CHECK_RC(ezauth_module_new(SN(path, strlen(path)), NULL, NULL, &m, &err), EZAUTH_OK);
    ezauth_error_free(err);
    if (m == NULL) {
        unlink(path);
        return;
    }
    CHECK(stat(tokens, &st) != 0);  /* loading makes nothing */

    CHECK_RC(ezauth_module_check_store(m, geteuid(), getegid(), S(""), NULL), EZAUTH_OK);
    CHECK(stat(tokens, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);

    CHECK_RC(ezauth_module_check_store(m, geteuid(), getegid(), SN("\xff", 1), NULL),
             EZAUTH_INVALID_UTF8);

    err = NULL;
    CHECK_RC(ezauth_module_check_store(m, 65534, 65534, S("nobody"), &err),
             EZAUTH_STORE_UNUSABLE);
    CHECK(ezauth_error_code(err) == EZAUTH_STORE_UNUSABLE);
    msg = ezauth_error_message(err);
    CHECK(memmem(msg.ptr, msg.len, tokens, strlen(tokens)) != NULL);
    CHECK(memmem(msg.ptr, msg.len, "uid 65534", 9) != NULL);
    ezauth_error_free(err);

    ezauth_module_free(m);
    rmdir(tokens);
    unlink(path);
}


static void
test_begin_request_nulls(void)
{
    ezauth_module   *m;
    ezauth_outcome  *out = POISON;
    ezauth_request   r = get_request("/", NULL, 0);

    m = new_module(NULL, NULL);
    if (m == NULL) {
        return;
    }

    CHECK_RC(ezauth_module_begin_request(m, NULL, NULL, &out), EZAUTH_NULL_PARAMETER);
    CHECK(out == POISON);
    CHECK_RC(ezauth_module_begin_request(NULL, &r, NULL, &out), EZAUTH_NULL_PARAMETER);
    CHECK(out == POISON);
    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, NULL), EZAUTH_NULL_PARAMETER);

    ezauth_module_free(m);
}


/*
 * Every string of the request is a window into one buffer with no NUL anywhere: a library
 * that reads up to a NUL would see the neighbouring fields (and ASan the end).
 */
static void
test_request_not_nul_terminated(void)
{
    char             *buf;
    size_t            n;
    ezauth_header     h[3];
    ezauth_module    *m;
    ezauth_outcome   *out = NULL;
    ezauth_request    r;
    static const char text[] =
        "GET/hello?x=1httpapp.example:8080127.0.0.1"
        "AcceptXtext/htmlX-Custom-HeaderXvalueUser-AgentXabi-testBODY";

    m = new_module(NULL, NULL);
    if (m == NULL) {
        return;
    }

    /* an exact-size heap copy, so reading one byte past any field's end is caught */
    n = sizeof(text) - 1;
    buf = malloc(n);
    memcpy(buf, text, n);

#define AT(off, len)  SN(buf + (off), (len))
    memset(&r, 0, sizeof(r));
    r.method = AT(0, 3);
    r.target = AT(3, 10);
    r.scheme = AT(13, 4);
    r.host = AT(17, 16);
    r.client_addr = AT(33, 9);
    h[0].name = AT(42, 6);
    h[0].value = AT(49, 9);
    h[1].name = AT(58, 15);
    h[1].value = AT(74, 5);
    h[2].name = AT(79, 10);
    h[2].value = AT(90, 8);
    r.headers = h;
    r.header_count = 3;
    r.body = AT(98, 4);
#undef AT

    CHECK(memcmp(buf + 98, "BODY", 4) == 0 && 102 == n);

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    if (out) {
        CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_CONTINUE);
        ezauth_outcome_free(out);
    }

    free(buf);
    ezauth_module_free(m);
}


static void
test_headers_null_count_zero(void)
{
    ezauth_module   *m;
    ezauth_outcome  *out = NULL;
    ezauth_request   r = get_request("/", NULL, 0);

    m = new_module(NULL, NULL);
    if (m == NULL) {
        return;
    }

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    if (out) {
        CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_CONTINUE);
        ezauth_outcome_free(out);
    }

    /* NULL with a count is the host's bug: refused, not dereferenced */
    out = NULL;
    r.header_count = 2;
    {
        ezauth_result  rc = ezauth_module_begin_request(m, &r, NULL, &out);

        CHECK(rc == EZAUTH_NULL_PARAMETER || rc == EZAUTH_OK);
        if (rc == EZAUTH_OK) {
            CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_FINISH);
            CHECK(ezauth_outcome_status(out) == 400);
            ezauth_outcome_free(out);
        }
    }

    ezauth_module_free(m);
}


static void
test_run_blocking_on_continue(void)
{
    ezauth_module   *m;
    ezauth_outcome  *out = NULL;
    ezauth_request   r = get_request("/", NULL, 0);

    m = new_module(NULL, NULL);
    if (m == NULL) {
        return;
    }

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    if (out == NULL) {
        ezauth_module_free(m);
        return;
    }

    CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_CONTINUE);
    CHECK_RC(ezauth_outcome_run_blocking(out), EZAUTH_WRONG_STATE);
    /* the refused call changed nothing */
    CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_CONTINUE);
    CHECK_RC(ezauth_outcome_run_blocking(NULL), EZAUTH_NULL_PARAMETER);

    ezauth_outcome_free(out);
    ezauth_module_free(m);
}


static void
test_header_index_out_of_range(void)
{
    size_t           n;
    ezauth_header_set  set;
    ezauth_header    h;
    ezauth_module   *m;
    ezauth_outcome  *out = NULL;
    ezauth_request   r = get_request("/", NULL, 0);

    m = new_module(NULL, NULL);
    if (m == NULL) {
        return;
    }

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    if (out == NULL) {
        ezauth_module_free(m);
        return;
    }

    for (set = EZAUTH_HEADERS_REQUEST_REMOVE; set <= EZAUTH_HEADERS_RESPONSE_ADD; set++) {
        n = ezauth_outcome_header_count(out, set);
        h.name = S("untouched");
        CHECK_RC(ezauth_outcome_header(out, set, n, &h), EZAUTH_INVALID_PARAMETER);
        CHECK_RC(ezauth_outcome_header(out, set, (size_t) -1, &h), EZAUTH_INVALID_PARAMETER);
        CHECK(str_is(h.name, "untouched"));
    }

    /* an unknown list */
    CHECK(ezauth_outcome_header_count(out, 4) == 0);
    CHECK(ezauth_outcome_header_count(out, 0xffffffff) == 0);
    CHECK_RC(ezauth_outcome_header(out, 4, 0, &h), EZAUTH_INVALID_PARAMETER);

    CHECK_RC(ezauth_outcome_header(out, EZAUTH_HEADERS_REQUEST_REMOVE, 0, NULL),
             EZAUTH_NULL_PARAMETER);
    CHECK_RC(ezauth_outcome_header(NULL, EZAUTH_HEADERS_REQUEST_REMOVE, 0, &h),
             EZAUTH_NULL_PARAMETER);

    ezauth_outcome_free(out);
    ezauth_module_free(m);
}


typedef struct {
    int              magic;
    int              calls;
    int              bad_userdata;
    int              bad_level;
    /* what every event's request_userdata must be now (the request being worked on) */
    void            *want_request;
    int              wrong_request;
    /* with per_thread: request_userdata is the calling thread's own tag */
    int              per_thread;
    pthread_mutex_t  lock;
} log_sink_t;


/* a request's log userdata in the threads test: names the thread that made the request */
typedef struct {
    pthread_t  thread;
    int        lines;
} thread_tag_t;


static void
log_cb(void *userdata, const ezauth_log_event *event)
{
    log_sink_t    *sink = userdata;
    thread_tag_t  *tag;

    if (sink == NULL || sink->magic != 0x10c) {
        /* cannot count it anywhere: report directly */
        printf("  log callback got userdata %p\n", userdata);
        failures++;
        return;
    }

    pthread_mutex_lock(&sink->lock);
    sink->calls++;
    if (event == NULL
        || event->level < EZAUTH_LOG_ERROR || event->level > EZAUTH_LOG_DEBUG
        || (event->message.len && event->message.ptr == NULL))
    {
        sink->bad_level++;

    } else if (sink->per_thread) {
        tag = event->request_userdata;
        if (tag == NULL || !pthread_equal(tag->thread, pthread_self())) {
            sink->wrong_request++;
        } else {
            tag->lines++;
        }

    } else if (event->request_userdata != sink->want_request) {
        sink->wrong_request++;
    }
    pthread_mutex_unlock(&sink->lock);
}


static void
test_log_callback_userdata(void)
{
    ezauth_module   *m;
    ezauth_outcome  *out = NULL;
    ezauth_request   r = get_request("/", NULL, 0);
    log_sink_t       sink;

    memset(&sink, 0, sizeof(sink));
    sink.magic = 0x10c;
    pthread_mutex_init(&sink.lock, NULL);

    m = new_module(log_cb, &sink);
    if (m == NULL) {
        return;
    }

    /* a request line that is not UTF-8 is refused, and the refusal is logged */
    r.method = S("G\xffT");

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    if (out) {
        CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_FINISH);
        CHECK(ezauth_outcome_status(out) == 400);
        ezauth_outcome_free(out);
    }

    CHECK(sink.calls > 0);
    CHECK(sink.bad_level == 0);
    CHECK(sink.wrong_request == 0);

    ezauth_module_free(m);
    pthread_mutex_destroy(&sink.lock);
}


/*
 * Every line logged about a request carries the log userdata the host gave
 * ezauth_module_begin_request, in that call and in ezauth_module_send_response
 * on its outcome; the next request's lines carry its own; a request begun
 * with NULL gets NULL.
 */
static void
test_log_request_userdata(void)
{
    int              calls, i;
    int              tags[3];
    void            *want[3] = { &tags[0], &tags[1], NULL };
    ezauth_module   *m;
    ezauth_outcome  *out;
    ezauth_header    spoofed[] = {
        H("X-MS-CLIENT-PRINCIPAL-NAME", "mallory"),
    };
    ezauth_request   r;
    log_sink_t       sink;

    memset(&sink, 0, sizeof(sink));
    sink.magic = 0x10c;
    pthread_mutex_init(&sink.lock, NULL);

    m = new_module(log_cb, &sink);
    if (m == NULL) {
        return;
    }

    for (i = 0; i < 3; i++) {
        sink.want_request = want[i];

        /* a refused request line: logged in begin_request, FINISH */
        r = get_request("/", NULL, 0);
        r.method = S("G\xffT");
        calls = sink.calls;
        out = NULL;
        CHECK_RC(ezauth_module_begin_request(m, &r, want[i], &out), EZAUTH_OK);
        CHECK(sink.calls > calls);
        ezauth_outcome_free(out);

        /* a client-sent identity header: removed and logged, CONTINUE */
        r = get_request("/app", spoofed, NELTS(spoofed));
        calls = sink.calls;
        out = NULL;
        CHECK_RC(ezauth_module_begin_request(m, &r, want[i], &out), EZAUTH_OK);
        CHECK(sink.calls > calls);
        if (out) {
            CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_CONTINUE);
            CHECK_RC(ezauth_module_send_response(out, NULL, 0), EZAUTH_OK);
        }
        ezauth_outcome_free(out);
    }

    CHECK(sink.bad_level == 0);
    CHECK(sink.wrong_request == 0);

    ezauth_module_free(m);
    pthread_mutex_destroy(&sink.lock);
}


/*
 * An outcome holds its module: the host may release its module handle first
 * (nginx frees the old cycle's module on reload while requests are in
 * flight) and go on using the outcome. Under ASan this also proves no
 * use-after-free.
 */
static void
test_outcome_outlives_module(void)
{
    size_t           i, n;
    ezauth_header    h;
    ezauth_module   *m;
    ezauth_outcome  *out = NULL, *fin = NULL;
    ezauth_header    spoofed[] = {
        H("X-MS-CLIENT-PRINCIPAL-NAME", "mallory"),
    };
    ezauth_request   r = get_request("/app", spoofed, NELTS(spoofed));
    ezauth_request   bad = get_request("/\xc0\xaf", NULL, 0);
    log_sink_t       sink;

    memset(&sink, 0, sizeof(sink));
    sink.magic = 0x10c;
    pthread_mutex_init(&sink.lock, NULL);

    m = new_module(log_cb, &sink);
    if (m == NULL) {
        return;
    }

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    CHECK_RC(ezauth_module_begin_request(m, &bad, NULL, &fin), EZAUTH_OK);
    ezauth_module_free(m);

    if (out) {
        CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_CONTINUE);
        n = ezauth_outcome_header_count(out, EZAUTH_HEADERS_REQUEST_REMOVE);
        CHECK(n > 0);
        for (i = 0; i < n; i++) {
            CHECK_RC(ezauth_outcome_header(out, EZAUTH_HEADERS_REQUEST_REMOVE, i, &h),
                     EZAUTH_OK);
        }
        CHECK_RC(ezauth_outcome_run_blocking(out), EZAUTH_WRONG_STATE);
        CHECK_RC(ezauth_module_send_response(out, NULL, 0), EZAUTH_OK);
    }
    ezauth_outcome_free(out);

    /* the last outcome frees the module; its log sink is still called until then */
    if (fin) {
        CHECK(ezauth_outcome_status(fin) == 400);
        CHECK(ezauth_outcome_body(fin).len > 0);
    }
    ezauth_outcome_free(fin);

    CHECK(sink.bad_level == 0);
    pthread_mutex_destroy(&sink.lock);
}


/* An unknown header set is an empty list, whatever the number. */
static void
test_header_set_unknown(void)
{
    ezauth_header_set  sets[] = { 4, 5, 0x7fffffff, 0x80000000u, 0xffffffffu };
    size_t             i;
    ezauth_header      h;
    ezauth_module     *m;
    ezauth_outcome    *out = NULL;
    ezauth_header      spoofed[] = {
        H("X-MS-CLIENT-PRINCIPAL-NAME", "mallory"),
    };
    ezauth_request     r = get_request("/app", spoofed, NELTS(spoofed));

    m = new_module(NULL, NULL);
    if (m == NULL) {
        return;
    }

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    if (out) {
        CHECK(ezauth_outcome_header_count(out, EZAUTH_HEADERS_REQUEST_REMOVE) > 0);
        for (i = 0; i < NELTS(sets); i++) {
            CHECK(ezauth_outcome_header_count(out, sets[i]) == 0);
            CHECK_RC(ezauth_outcome_header(out, sets[i], 0, &h), EZAUTH_INVALID_PARAMETER);
        }
    }

    ezauth_outcome_free(out);
    ezauth_module_free(m);
}


/* FINISH outcomes: the views of the response, and the hooks that do not apply to them */
static void
test_finish_outcome(void)
{
    size_t           i, n;
    ezauth_str       body;
    ezauth_header    h;
    ezauth_module   *m;
    ezauth_outcome  *out = NULL;
    ezauth_request   r = get_request("/", NULL, 0);

    m = new_module(NULL, NULL);
    if (m == NULL) {
        return;
    }

    r.target = S("/\xc0\xaf");   /* not UTF-8: a 400 from the module */

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    if (out == NULL) {
        ezauth_module_free(m);
        return;
    }

    CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_FINISH);
    CHECK(ezauth_outcome_status(out) == 400);

    body = ezauth_outcome_body(out);
    CHECK(body.len > 0 && body.ptr != NULL);

    n = ezauth_outcome_header_count(out, EZAUTH_HEADERS_RESPONSE);
    CHECK(n > 0);
    for (i = 0; i < n; i++) {
        CHECK_RC(ezauth_outcome_header(out, EZAUTH_HEADERS_RESPONSE, i, &h), EZAUTH_OK);
        CHECK(h.name.len > 0);
    }

    /* the CONTINUE lists are empty on a FINISH outcome */
    CHECK(ezauth_outcome_header_count(out, EZAUTH_HEADERS_REQUEST_REMOVE) == 0);
    CHECK(ezauth_outcome_header_count(out, EZAUTH_HEADERS_REQUEST_SET) == 0);
    CHECK(ezauth_outcome_header_count(out, EZAUTH_HEADERS_RESPONSE_ADD) == 0);

    CHECK_RC(ezauth_outcome_run_blocking(out), EZAUTH_WRONG_STATE);
    CHECK_RC(ezauth_module_send_response(out, NULL, 0), EZAUTH_WRONG_STATE);

    ezauth_outcome_free(out);
    ezauth_module_free(m);
}


/* The OnSendResponse hook on a CONTINUE outcome, with and without app headers. */
static void
test_send_response(void)
{
    size_t           i, n;
    ezauth_header    h;
    ezauth_module   *m;
    ezauth_outcome  *out = NULL;
    ezauth_request   r = get_request("/app", NULL, 0);
    ezauth_header    app[] = {
        H("Content-Type", "text/plain"),
        H("Set-Cookie", "app=1"),
    };

    m = new_module(NULL, NULL);
    if (m == NULL) {
        return;
    }

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    if (out == NULL) {
        ezauth_module_free(m);
        return;
    }

    CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_CONTINUE);
    CHECK(ezauth_outcome_status(out) == 0);
    CHECK(ezauth_outcome_body(out).len == 0);

    CHECK_RC(ezauth_module_send_response(out, app, NELTS(app)), EZAUTH_OK);

    n = ezauth_outcome_header_count(out, EZAUTH_HEADERS_RESPONSE_ADD);
    for (i = 0; i < n; i++) {
        CHECK_RC(ezauth_outcome_header(out, EZAUTH_HEADERS_RESPONSE_ADD, i, &h), EZAUTH_OK);
    }

    CHECK_RC(ezauth_module_send_response(out, NULL, 0), EZAUTH_OK);
    CHECK_RC(ezauth_module_send_response(out, NULL, 1), EZAUTH_NULL_PARAMETER);
    CHECK_RC(ezauth_module_send_response(NULL, NULL, 0), EZAUTH_NULL_PARAMETER);

    ezauth_outcome_free(out);
    ezauth_module_free(m);
}


/* Client-sent identity headers are scrubbed, whatever their spelling (README, "What the application sees"). */
static void
test_spoofed_headers_removed(void)
{
    size_t           i, n;
    int              principal, token, kept;
    ezauth_header    h;
    ezauth_module   *m;
    ezauth_outcome  *out = NULL;
    ezauth_header    in[] = {
        H("Accept", "*/*"),
        H("X-MS-CLIENT-PRINCIPAL-NAME", "admin"),
        H("X-MS_TOKEN_AAD_ACCESS_TOKEN", "x"),
    };
    ezauth_request   r = get_request("/", in, NELTS(in));

    m = new_module(NULL, NULL);
    if (m == NULL) {
        return;
    }

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    if (out == NULL) {
        ezauth_module_free(m);
        return;
    }

    CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_CONTINUE);

    principal = token = kept = 0;
    n = ezauth_outcome_header_count(out, EZAUTH_HEADERS_REQUEST_REMOVE);

    for (i = 0; i < n; i++) {
        if (ezauth_outcome_header(out, EZAUTH_HEADERS_REQUEST_REMOVE, i, &h) != EZAUTH_OK) {
            fail(__LINE__, "REQUEST_REMOVE[%zu] unreadable", i);
            continue;
        }
        principal |= name_is_ci(h.name, "X-MS-CLIENT-PRINCIPAL-NAME");
        token |= name_is_ci(h.name, "X-MS_TOKEN_AAD_ACCESS_TOKEN");
        kept |= name_is_ci(h.name, "Accept");
    }

    CHECK(principal);
    CHECK(token);
    CHECK(!kept);

    /* and nothing of the kind is set for an anonymous request */
    n = ezauth_outcome_header_count(out, EZAUTH_HEADERS_REQUEST_SET);
    for (i = 0; i < n; i++) {
        if (ezauth_outcome_header(out, EZAUTH_HEADERS_REQUEST_SET, i, &h) == EZAUTH_OK) {
            CHECK(!name_is_ci(h.name, "X-MS-CLIENT-PRINCIPAL-NAME"));
        }
    }

    ezauth_outcome_free(out);
    ezauth_module_free(m);
}


/* GET /.auth/version answers from the module itself (README, "Routes"). */
static void
test_version_route(void)
{
    ezauth_module   *m;
    ezauth_outcome  *out = NULL;
    ezauth_request   r = get_request("/.auth/version", NULL, 0);

    m = new_module(NULL, NULL);
    if (m == NULL) {
        return;
    }

    CHECK_RC(ezauth_module_begin_request(m, &r, NULL, &out), EZAUTH_OK);
    if (out) {
        CHECK(ezauth_outcome_action(out) == EZAUTH_ACTION_FINISH);
        CHECK(ezauth_outcome_status(out) == 200);
        CHECK(str_contains(ezauth_outcome_body(out), "\"" EZAUTH_VERSION "\""));
        ezauth_outcome_free(out);
    }

    ezauth_module_free(m);
}


/* One module, many threads: the handle is documented thread-safe. */
#define THREADS      8
#define PER_THREAD   500

static void *
hammer(void *arg)
{
    int              i;
    char             target[64];
    ezauth_module   *m = arg;
    ezauth_outcome  *out;
    thread_tag_t     tag;
    ezauth_header    in[] = {
        H("Cookie", "AppServiceAuthSession=garbage"),
        H("X-MS-CLIENT-PRINCIPAL", "e30="),
    };
    ezauth_request   r;
    intptr_t         bad = 0;

    tag.thread = pthread_self();
    tag.lines = 0;

    for (i = 0; i < PER_THREAD; i++) {
        snprintf(target, sizeof(target), "/item/%d?x=%d", i, i * 7);
        r = get_request(target, in, NELTS(in));
        out = NULL;

        if (ezauth_module_begin_request(m, &r, &tag, &out) != EZAUTH_OK || out == NULL) {
            bad++;
            continue;
        }

        if (ezauth_outcome_action(out) == EZAUTH_ACTION_CONTINUE
            && ezauth_module_send_response(out, NULL, 0) != EZAUTH_OK)
        {
            bad++;
        }

        ezauth_outcome_free(out);
    }

    /* each request logged the identity header it removed, tagged as this thread's */
    if (tag.lines < PER_THREAD) {
        bad++;
    }

    return (void *) bad;
}


static void
test_threads(void)
{
    int              i;
    void            *bad;
    pthread_t        t[THREADS];
    ezauth_module   *m;
    log_sink_t       sink;

    /* every line carries the request userdata of the thread that logged it */
    memset(&sink, 0, sizeof(sink));
    sink.magic = 0x10c;
    sink.per_thread = 1;
    pthread_mutex_init(&sink.lock, NULL);

    m = new_module(log_cb, &sink);
    if (m == NULL) {
        return;
    }

    for (i = 0; i < THREADS; i++) {
        CHECK(pthread_create(&t[i], NULL, hammer, m) == 0);
    }

    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], &bad);
        CHECK(bad == NULL);
    }

    CHECK(sink.wrong_request == 0);
    CHECK(sink.bad_level == 0);

    ezauth_module_free(m);
    pthread_mutex_destroy(&sink.lock);
}


/* the status of one anonymous GET of target from client; its body into body */
static uint16_t
get_from(ezauth_module *m, const char *target, const char *client, char *body,
    size_t size)
{
    uint16_t         status;
    ezauth_str       b;
    ezauth_outcome  *o = NULL;
    ezauth_request   r = get_request(target, NULL, 0);

    r.client_addr = SN(client, strlen(client));

    if (ezauth_module_begin_request(m, &r, NULL, &o) != EZAUTH_OK) {
        return 0;
    }

    status = ezauth_outcome_status(o);

    if (body != NULL) {
        b = ezauth_outcome_body(o);
        snprintf(body, size, "%.*s", (int) b.len, b.len ? (const char *) b.ptr : "");
    }

    ezauth_outcome_free(o);
    return status;
}


/*
 * Two forked "workers" count into one MAP_SHARED block, as nginx's do into
 * a shared memory zone: the parent's scrape shows the sum.
 */
static void
test_metrics_shared_memory(void)
{
    int             i, w, status;
    char            path[300], body[65536];
    pid_t           pid;
    size_t          size;
    void           *zone;
    ezauth_error   *err = NULL;
    ezauth_module  *m = NULL;

    snprintf(path, sizeof(path), "%s/metrics.json", tmpdir);
    write_file(path,
               "{\"globalValidation\":{\"unauthenticatedClientAction\":\"AllowAnonymous\"},"
               "\"httpSettings\":{\"requireHttps\":false},"
               "\"ezauth\":{\"metrics\":{\"enabled\":true}}}");
    CHECK_RC(ezauth_module_new(SN(path, strlen(path)), NULL, NULL, &m, &err), EZAUTH_OK);
    if (m == NULL) {
        ezauth_error_free(err);
        return;
    }

    size = ezauth_metrics_size(m);
    CHECK(size > 0 && size % 8 == 0);
    CHECK(ezauth_metrics_size(NULL) == 0);

    zone = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(zone != MAP_FAILED);
    if (zone == MAP_FAILED) {
        ezauth_module_free(m);
        return;
    }

    CHECK_RC(ezauth_module_use_metrics_memory(NULL, zone, size), EZAUTH_NULL_PARAMETER);
    CHECK_RC(ezauth_module_use_metrics_memory(m, NULL, size), EZAUTH_NULL_PARAMETER);
    CHECK_RC(ezauth_module_use_metrics_memory(m, zone, size - 8), EZAUTH_INVALID_PARAMETER);
    CHECK_RC(ezauth_module_use_metrics_memory(m, (char *) zone + 4, size),
             EZAUTH_INVALID_PARAMETER);
    CHECK_RC(ezauth_module_use_metrics_memory(m, zone, size), EZAUTH_OK);

    for (w = 0; w < 2; w++) {
        pid = fork();
        if (pid == 0) {
            for (i = 0; i < 5; i++) {
                if (get_from(m, "/page", "127.0.0.1", NULL, 0) != 0) {
                    _exit(1);
                }
            }
            _exit(0);
        }
        CHECK(pid > 0);
    }

    for (w = 0; w < 2; w++) {
        CHECK(wait(&status) > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    /* a stranger is not shown them; the listed address is, with both workers' counts */
    CHECK(get_from(m, "/.auth/metrics", "192.0.2.1", body, sizeof(body)) == 404);
    CHECK(strstr(body, "ezauth_") == NULL);
    CHECK(get_from(m, "/.auth/metrics", "127.0.0.1", body, sizeof(body)) == 200);
    CHECK(strstr(body, "\nezauth_requests_total{decision=\"anonymous\"} 10\n") != NULL);
    CHECK(strstr(body, "\nezauth_requests_total{decision=\"route\"} 1\n") != NULL);

    ezauth_module_free(m);
    munmap(zone, size);
}


static const struct {
    const char  *name;
    void       (*run)(void);
} tests[] = {
    { "abi_version", test_abi_version },
    { "version", test_version },
    { "result_names", test_result_names },
    { "free_null", test_free_null },
    { "module_new_null_out", test_module_new_null_out },
    { "module_new_missing_file", test_module_new_missing_file },
    { "module_new_invalid_config", test_module_new_invalid_config },
    { "module_new_bad_utf8_path", test_module_new_bad_utf8_path },
    { "module_new_ok", test_module_new_ok },
    { "check_store", test_check_store },
    { "begin_request_nulls", test_begin_request_nulls },
    { "request_not_nul_terminated", test_request_not_nul_terminated },
    { "headers_null_count_zero", test_headers_null_count_zero },
    { "run_blocking_on_continue", test_run_blocking_on_continue },
    { "header_index_out_of_range", test_header_index_out_of_range },
    { "log_callback_userdata", test_log_callback_userdata },
    { "log_request_userdata", test_log_request_userdata },
    { "outcome_outlives_module", test_outcome_outlives_module },
    { "header_set_unknown", test_header_set_unknown },
    { "finish_outcome", test_finish_outcome },
    { "send_response", test_send_response },
    { "spoofed_headers_removed", test_spoofed_headers_removed },
    { "version_route", test_version_route },
    { "threads", test_threads },
    { "metrics_shared_memory", test_metrics_shared_memory },
};


static int
selected(const char *name, int argc, char **argv)
{
    int  i;

    if (argc < 2) {
        return 1;
    }

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return 1;
        }
    }

    return 0;
}


int
main(int argc, char **argv)
{
    int     before, failed, run;
    size_t  i;
    char    path[300];

    /* the library must speak the ABI this program was built for, before anything else */
    if (ezauth_abi_version() != EZAUTH_ABI_VERSION) {
        fprintf(stderr, "libezauth ABI %u, header %u\n", ezauth_abi_version(),
                (unsigned) EZAUTH_ABI_VERSION);
        return 1;
    }

    /* failure details and verdicts in one stream, in order */
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }

    /* the minimal configuration most tests load; keys come from the environment */
    snprintf(config_path, sizeof(config_path), "%s/auth.json", tmpdir);
    write_file(config_path,
               "{\"platform\":{\"enabled\":true},"
               "\"globalValidation\":{\"unauthenticatedClientAction\":\"AllowAnonymous\"},"
               "\"httpSettings\":{\"requireHttps\":false}}");
    setenv("WEBSITE_AUTH_ENCRYPTION_KEY",
           "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);
    setenv("WEBSITE_AUTH_SIGNING_KEY",
           "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100", 1);

    run = failed = 0;

    for (i = 0; i < NELTS(tests); i++) {
        if (!selected(tests[i].name, argc, argv)) {
            continue;
        }

        current = tests[i].name;
        before = failures;
        tests[i].run();
        run++;

        if (failures != before) {
            failed++;
            printf("FAIL %s\n", tests[i].name);
        } else {
            printf("ok   %s\n", tests[i].name);
        }
    }

    printf("%d of %d C ABI tests passed\n", run - failed, run);

    /* leave nothing behind in /tmp */
    for (i = 0; i < 5; i++) {
        static const char  *files[] = {
            "auth.json", "unknown-field.json", "ill-typed.json", "garbage.json",
            "metrics.json"
        };
        snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);

    return failed ? 1 : 0;
}
