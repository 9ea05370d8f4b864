
/*
 * ngx_http_ezauth_module: App Service Authentication ("Easy Auth") in front
 * of any location, by way of the ezauth library (include/ezauth.h).
 *
 * The library is an IIS-style module: the access phase handler calls
 * ezauth_module_begin_request() and either continues to the content handler
 * (proxy_pass, fastcgi_pass, ...) with edited request headers, sends the
 * response the library made (the /.auth routes, redirects to the provider,
 * 401/403), or, when the library needs blocking work (calls to an identity
 * provider or a remote token store), runs that step on a thread pool and
 * resumes the phase on completion.  The header filter calls
 * ezauth_module_send_response() for the requests that continued.
 *
 * Each distinct configuration file is loaded once per configuration cycle,
 * in the master at configuration time, so that "nginx -t" reports ezauth's
 * errors and a reload with a broken file keeps the running configuration.
 * Workers inherit the loaded modules over fork(); the modules are freed by
 * a cleanup of the cycle pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ezauth.h>


/* bodies of POST requests to the /.auth routes are read up to this size */
#define NGX_HTTP_EZAUTH_MAX_BODY    65536


#define NGX_HTTP_EZAUTH_START       0
#define NGX_HTTP_EZAUTH_BODY        1
#define NGX_HTTP_EZAUTH_BODY_DONE   2
#define NGX_HTTP_EZAUTH_BLOCKING    3
#define NGX_HTTP_EZAUTH_RESUMED     4
#define NGX_HTTP_EZAUTH_DONE        5


typedef struct {
    ngx_str_t                   path;
    ezauth_module              *module;
} ngx_http_ezauth_loaded_t;


typedef struct {
    ngx_array_t                 loaded;     /* ngx_http_ezauth_loaded_t */
} ngx_http_ezauth_main_conf_t;


typedef struct {
    ezauth_module              *module;     /* NULL: "off" */
    ngx_str_t                   thread_pool_name;
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool;
#endif
} ngx_http_ezauth_loc_conf_t;


typedef struct {
    ngx_http_request_t         *request;
    const ezauth_module        *module;
    ezauth_outcome             *outcome;
    ezauth_action               action;
    ezauth_result               blocking_rc;
#if (NGX_THREADS)
    ngx_thread_task_t          *task;
#endif
    off_t                       body_received;
    ngx_uint_t                  state;
    unsigned                    limit_body:1;
    unsigned                    response_seen:1;
} ngx_http_ezauth_ctx_t;


static ngx_int_t ngx_http_ezauth_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ezauth_under_prefix(ngx_http_request_t *r,
    const ezauth_module *module);
static ngx_int_t ngx_http_ezauth_read_body(ngx_http_request_t *r,
    ngx_http_ezauth_ctx_t *ctx);
static void ngx_http_ezauth_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ezauth_begin(ngx_http_request_t *r,
    ngx_http_ezauth_ctx_t *ctx);
static ngx_int_t ngx_http_ezauth_request_body(ngx_http_request_t *r,
    ezauth_str *body);
static ngx_int_t ngx_http_ezauth_act(ngx_http_request_t *r,
    ngx_http_ezauth_ctx_t *ctx, ngx_http_ezauth_loc_conf_t *elcf);
static ngx_int_t ngx_http_ezauth_post_blocking(ngx_http_request_t *r,
    ngx_http_ezauth_ctx_t *ctx, ngx_http_ezauth_loc_conf_t *elcf);
#if (NGX_THREADS)
static void ngx_http_ezauth_thread_handler(void *data, ngx_log_t *log);
static void ngx_http_ezauth_thread_event_handler(ngx_event_t *ev);
#endif
static ngx_int_t ngx_http_ezauth_send_outcome(ngx_http_request_t *r,
    ngx_http_ezauth_ctx_t *ctx);
static ngx_int_t ngx_http_ezauth_add_response_headers(ngx_http_request_t *r,
    ezauth_outcome *outcome, ezauth_header_set set);
static ngx_int_t ngx_http_ezauth_edit_request_headers(ngx_http_request_t *r,
    ezauth_outcome *outcome);
static ngx_int_t ngx_http_ezauth_strip_headers(ngx_http_request_t *r,
    ngx_str_t *names, ngx_uint_t n);
static void ngx_http_ezauth_reindex_header(ngx_http_request_t *r,
    ngx_http_header_t *hh);
static ngx_uint_t ngx_http_ezauth_name_in(ngx_str_t *name, ngx_str_t *names,
    ngx_uint_t n);
static ezauth_header *ngx_http_ezauth_list_headers(ngx_http_request_t *r,
    ngx_list_t *list, ngx_str_t *extra_name, ngx_str_t *extra_value,
    size_t *count);
static ngx_http_ezauth_ctx_t *ngx_http_ezauth_get_ctx(ngx_http_request_t *r);
static ngx_http_ezauth_ctx_t *ngx_http_ezauth_create_ctx(
    ngx_http_request_t *r);
static void ngx_http_ezauth_cleanup(void *data);

static ngx_int_t ngx_http_ezauth_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_ezauth_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);

static void ngx_http_ezauth_log(void *userdata, ezauth_log_level level,
    ezauth_str message);
static char *ngx_http_ezauth_config(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ezauth_module *ngx_http_ezauth_load(ngx_conf_t *cf, ngx_str_t *path);
static void ngx_http_ezauth_module_cleanup(void *data);
static void *ngx_http_ezauth_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ezauth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ezauth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ezauth_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_ezauth_commands[] = {

    { ngx_string("ezauth_config"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ezauth_config,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ezauth_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ezauth_loc_conf_t, thread_pool_name),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ezauth_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_ezauth_init,                  /* postconfiguration */

    ngx_http_ezauth_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ezauth_create_loc_conf,       /* create location configuration */
    ngx_http_ezauth_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_ezauth_module = {
    NGX_MODULE_V1,
    &ngx_http_ezauth_module_ctx,           /* module context */
    ngx_http_ezauth_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;


static ngx_str_t  ngx_http_ezauth_content_type = ngx_string("Content-Type");


static ngx_int_t
ngx_http_ezauth_handler(ngx_http_request_t *r)
{
    ngx_http_ezauth_ctx_t       *ctx;
    ngx_http_ezauth_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_ezauth_module);

    if (elcf->module == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ezauth_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_ezauth_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->module = elcf->module;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ezauth access handler, state %ui", ctx->state);

    switch (ctx->state) {

    case NGX_HTTP_EZAUTH_START:

        /* the POST routes (client-directed login, form_post callbacks) */

        if (r->method == NGX_HTTP_POST
            && ngx_http_ezauth_under_prefix(r, ctx->module))
        {
            return ngx_http_ezauth_read_body(r, ctx);
        }

        return ngx_http_ezauth_begin(r, ctx);

    case NGX_HTTP_EZAUTH_BODY:
        return NGX_DONE;

    case NGX_HTTP_EZAUTH_BODY_DONE:
        return ngx_http_ezauth_begin(r, ctx);

    case NGX_HTTP_EZAUTH_BLOCKING:
        return NGX_AGAIN;

    case NGX_HTTP_EZAUTH_RESUMED:

        if (ctx->blocking_rc != EZAUTH_OK) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ezauth_outcome_run_blocking() failed: %s",
                          ezauth_result_name(ctx->blocking_rc));
            ctx->state = NGX_HTTP_EZAUTH_DONE;
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_ezauth_act(r, ctx, elcf);

    default: /* NGX_HTTP_EZAUTH_DONE */

        /*
         * an internal redirect (error_page, try_files, X-Accel-Redirect)
         * runs the access phase again; the request was handled already
         */

        return NGX_DECLINED;
    }
}


/* is the request under the module's route prefix (httpSettings.routes.apiPrefix)? */

static ngx_uint_t
ngx_http_ezauth_under_prefix(ngx_http_request_t *r, const ezauth_module *module)
{
    u_char      next;
    ezauth_str  prefix;

    prefix = ezauth_module_api_prefix(module);

    if (prefix.len == 0 || r->unparsed_uri.len < prefix.len
        || ngx_strncasecmp(r->unparsed_uri.data, (u_char *) prefix.ptr,
                           prefix.len)
           != 0)
    {
        return 0;
    }

    if (r->unparsed_uri.len == prefix.len) {
        return 1;
    }

    next = r->unparsed_uri.data[prefix.len];

    return next == '/' || next == '?';
}


static ngx_int_t
ngx_http_ezauth_read_body(ngx_http_request_t *r, ngx_http_ezauth_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (r->headers_in.content_length_n > NGX_HTTP_EZAUTH_MAX_BODY) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ezauth: request body of %O bytes is over the limit "
                      "of %d bytes", r->headers_in.content_length_n,
                      NGX_HTTP_EZAUTH_MAX_BODY);
        ctx->state = NGX_HTTP_EZAUTH_DONE;
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    /* chunked bodies are capped by ngx_http_ezauth_request_body_filter() */

    ctx->limit_body = 1;
    ctx->state = NGX_HTTP_EZAUTH_BODY;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_ezauth_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->state = NGX_HTTP_EZAUTH_DONE;
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}


static void
ngx_http_ezauth_body_handler(ngx_http_request_t *r)
{
    ngx_http_ezauth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ezauth_module);

    ctx->state = NGX_HTTP_EZAUTH_BODY_DONE;

    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_ezauth_begin(ngx_http_request_t *r, ngx_http_ezauth_ctx_t *ctx)
{
    ezauth_result                rc;
    ezauth_request               req;
    ngx_http_core_srv_conf_t    *cscf;
    ngx_http_ezauth_loc_conf_t  *elcf;

    ngx_memzero(&req, sizeof(ezauth_request));

    req.method.ptr = r->method_name.data;
    req.method.len = r->method_name.len;

    req.target.ptr = r->unparsed_uri.data;
    req.target.len = r->unparsed_uri.len;

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        req.scheme.ptr = (const uint8_t *) "https";
        req.scheme.len = sizeof("https") - 1;

    } else
#endif
    {
        req.scheme.ptr = (const uint8_t *) "http";
        req.scheme.len = sizeof("http") - 1;
    }

    if (r->host_start && r->host_end) {

        /* absolute-form request target: its authority wins over Host */

        req.host.ptr = r->host_start;
        req.host.len = (r->port_end ? r->port_end : r->host_end)
                       - r->host_start;

    } else if (r->headers_in.host) {
        req.host.ptr = r->headers_in.host->value.data;
        req.host.len = r->headers_in.host->value.len;

    } else if (r->headers_in.server.len) {
        req.host.ptr = r->headers_in.server.data;
        req.host.len = r->headers_in.server.len;

    } else {
        cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
        req.host.ptr = cscf->server_name.data;
        req.host.len = cscf->server_name.len;
    }

    req.client_addr.ptr = r->connection->addr_text.data;
    req.client_addr.len = r->connection->addr_text.len;

    req.headers = ngx_http_ezauth_list_headers(r, &r->headers_in.headers,
                                               NULL, NULL, &req.header_count);
    if (req.headers == NULL && req.header_count) {
        ctx->state = NGX_HTTP_EZAUTH_DONE;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->state == NGX_HTTP_EZAUTH_BODY_DONE) {
        if (ngx_http_ezauth_request_body(r, &req.body) != NGX_OK) {
            ctx->state = NGX_HTTP_EZAUTH_DONE;
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (req.body.len > NGX_HTTP_EZAUTH_MAX_BODY) {
            ctx->state = NGX_HTTP_EZAUTH_DONE;
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }

    rc = ezauth_module_begin_request(ctx->module, &req, &ctx->outcome);

    if (rc != EZAUTH_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ezauth_module_begin_request() failed: %s",
                      ezauth_result_name(rc));
        ctx->outcome = NULL;
        ctx->state = NGX_HTTP_EZAUTH_DONE;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_ezauth_module);

    return ngx_http_ezauth_act(r, ctx, elcf);
}


static ngx_int_t
ngx_http_ezauth_request_body(ngx_http_request_t *r, ezauth_str *body)
{
    off_t         len;
    size_t        size;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->ptr = NULL;
    body->len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && ngx_buf_in_memory(cl->buf)) {
        body->ptr = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for ( /* void */ ; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > NGX_HTTP_EZAUTH_MAX_BODY) {
        body->len = (size_t) len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) len);
    if (p == NULL && len) {
        return NGX_ERROR;
    }

    body->ptr = p;
    body->len = (size_t) len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        if (!b->in_file || b->file == NULL) {
            continue;
        }

        /*
         * a body larger than client_body_buffer_size is in a temporary
         * file; it is at most NGX_HTTP_EZAUTH_MAX_BODY bytes and was just
         * written, so this is a page cache read like nginx's own
         */

        size = (size_t) (b->file_last - b->file_pos);

        n = ngx_read_file(b->file, p, size, b->file_pos);

        if (n != (ssize_t) size) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "ezauth: cannot read the request body from \"%V\"",
                          &b->file->name);
            return NGX_ERROR;
        }

        p += size;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ezauth_act(ngx_http_request_t *r, ngx_http_ezauth_ctx_t *ctx,
    ngx_http_ezauth_loc_conf_t *elcf)
{
    ngx_int_t  rc;

    ctx->action = ezauth_outcome_action(ctx->outcome);

    switch (ctx->action) {

    case EZAUTH_ACTION_CONTINUE:

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ezauth: continue");

        ctx->state = NGX_HTTP_EZAUTH_DONE;

        if (ngx_http_ezauth_edit_request_headers(r, ctx->outcome) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /*
         * the library lets the request through, signed in or anonymous;
         * other access modules still decide ("satisfy any" is not granted)
         */

        return NGX_DECLINED;

    case EZAUTH_ACTION_BLOCKING:

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ezauth: blocking step");

        return ngx_http_ezauth_post_blocking(r, ctx, elcf);

    default: /* EZAUTH_ACTION_FINISH */

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ezauth: finish %uD",
                       (uint32_t) ezauth_outcome_status(ctx->outcome));

        ctx->state = NGX_HTTP_EZAUTH_DONE;

        rc = ngx_http_ezauth_send_outcome(r, ctx);

        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }
}


static ngx_int_t
ngx_http_ezauth_post_blocking(ngx_http_request_t *r,
    ngx_http_ezauth_ctx_t *ctx, ngx_http_ezauth_loc_conf_t *elcf)
{
#if (NGX_THREADS)
    ngx_thread_task_t  *task;

    task = ctx->task;

    if (task == NULL) {
        task = ngx_thread_task_alloc(r->pool, 0);
        if (task == NULL) {
            ctx->state = NGX_HTTP_EZAUTH_DONE;
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        task->ctx = ctx;
        task->handler = ngx_http_ezauth_thread_handler;
        task->event.data = ctx;
        task->event.handler = ngx_http_ezauth_thread_event_handler;

        ctx->task = task;
    }

    if (ngx_thread_task_post(elcf->thread_pool, task) != NGX_OK) {
        ctx->state = NGX_HTTP_EZAUTH_DONE;
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    /* the request may not be freed while the task uses its context */

    r->main->blocked++;

    ctx->state = NGX_HTTP_EZAUTH_BLOCKING;

    return NGX_AGAIN;

#else

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "ezauth needs nginx built with threads");

    ctx->state = NGX_HTTP_EZAUTH_DONE;

    return NGX_HTTP_INTERNAL_SERVER_ERROR;

#endif
}


#if (NGX_THREADS)

static void
ngx_http_ezauth_thread_handler(void *data, ngx_log_t *log)
{
    ngx_http_ezauth_ctx_t  *ctx = data;

    /* a pool thread: nothing but the library is touched here */

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0, "ezauth thread handler");

    ctx->blocking_rc = ezauth_outcome_run_blocking(ctx->module,
                                                   ctx->outcome);
}


static void
ngx_http_ezauth_thread_event_handler(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_ezauth_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ezauth thread done: \"%V?%V\"", &r->uri, &r->args);

    r->main->blocked--;

    ctx->state = NGX_HTTP_EZAUTH_RESUMED;

    /*
     * ngx_http_core_run_phases(), unless the request was terminated
     * meanwhile, in which case nginx installed its finalizer
     */

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}

#endif


static ngx_int_t
ngx_http_ezauth_send_outcome(ngx_http_request_t *r,
    ngx_http_ezauth_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_uint_t    status;
    ezauth_str    body;
    ngx_chain_t   out;

    status = ezauth_outcome_status(ctx->outcome);

    if (status < 100 || status > 999) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ezauth: bad response status %ui", status);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;

    if (ngx_http_ezauth_add_response_headers(r, ctx->outcome,
                                             EZAUTH_HEADERS_RESPONSE)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = ezauth_outcome_body(ctx->outcome);

    r->headers_out.content_length_n = body.len;

    if (body.len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    /* the outcome, and so the body, lives until the request pool is freed */

    b->pos = (u_char *) body.ptr;
    b->last = b->pos + body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_ezauth_add_response_headers(ngx_http_request_t *r,
    ezauth_outcome *outcome, ezauth_header_set set)
{
    size_t            i, n;
    ngx_str_t         name;
    ezauth_header     eh;
    ngx_table_elt_t  *h;

    n = ezauth_outcome_header_count(outcome, set);

    for (i = 0; i < n; i++) {

        if (ezauth_outcome_header(outcome, set, i, &eh) != EZAUTH_OK) {
            return NGX_ERROR;
        }

        name.data = (u_char *) eh.name.ptr;
        name.len = eh.name.len;

        if (name.len == sizeof("Content-Type") - 1
            && ngx_strncasecmp(name.data, (u_char *) "Content-Type",
                               name.len) == 0)
        {
            r->headers_out.content_type.data = (u_char *) eh.value.ptr;
            r->headers_out.content_type.len = eh.value.len;
            r->headers_out.content_type_len = eh.value.len;
            r->headers_out.content_type_lowcase = NULL;
            continue;
        }

        /* nginx owns framing and the connection */

        if ((name.len == sizeof("Content-Length") - 1
             && ngx_strncasecmp(name.data, (u_char *) "Content-Length",
                                name.len) == 0)
            || (name.len == sizeof("Transfer-Encoding") - 1
                && ngx_strncasecmp(name.data, (u_char *) "Transfer-Encoding",
                                   name.len) == 0)
            || (name.len == sizeof("Connection") - 1
                && ngx_strncasecmp(name.data, (u_char *) "Connection",
                                   name.len) == 0)
            || (name.len == sizeof("Keep-Alive") - 1
                && ngx_strncasecmp(name.data, (u_char *) "Keep-Alive",
                                   name.len) == 0))
        {
            continue;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        /*
         * the views stay valid until the outcome is freed with the request
         * pool; Location is not set in r->headers_out.location, so that
         * nginx sends it exactly as the library made it
         */

        h->hash = 1;
        h->key = name;
        h->value.data = (u_char *) eh.value.ptr;
        h->value.len = eh.value.len;
        h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ezauth_edit_request_headers(ngx_http_request_t *r,
    ezauth_outcome *outcome)
{
    size_t                      i, nremove, nset;
    ngx_str_t                  *names;
    ngx_uint_t                  n, moved;
    ezauth_header               eh;
    ngx_table_elt_t            *h;
    ngx_http_header_t          *hh;
    ngx_http_core_main_conf_t  *cmcf;

    nremove = ezauth_outcome_header_count(outcome,
                                          EZAUTH_HEADERS_REQUEST_REMOVE);
    nset = ezauth_outcome_header_count(outcome, EZAUTH_HEADERS_REQUEST_SET);

    if (nremove + nset == 0) {
        return NGX_OK;
    }

    /* a set header replaces any of the same name: both lists are stripped */

    names = ngx_palloc(r->pool, (nremove + nset) * sizeof(ngx_str_t));
    if (names == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (i = 0; i < nremove; i++) {
        if (ezauth_outcome_header(outcome, EZAUTH_HEADERS_REQUEST_REMOVE, i,
                                  &eh)
            != EZAUTH_OK)
        {
            return NGX_ERROR;
        }

        names[n].data = (u_char *) eh.name.ptr;
        names[n].len = eh.name.len;
        n++;
    }

    for (i = 0; i < nset; i++) {
        if (ezauth_outcome_header(outcome, EZAUTH_HEADERS_REQUEST_SET, i, &eh)
            != EZAUTH_OK)
        {
            return NGX_ERROR;
        }

        names[n].data = (u_char *) eh.name.ptr;
        names[n].len = eh.name.len;
        n++;
    }

    moved = (ngx_http_ezauth_strip_headers(r, names, n) == NGX_OK);

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    for (i = 0; i < nset; i++) {
        if (ezauth_outcome_header(outcome, EZAUTH_HEADERS_REQUEST_SET, i, &eh)
            != EZAUTH_OK)
        {
            return NGX_ERROR;
        }

        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        /*
         * copied: request headers are read until the log phase, and the
         * outcome's views end at ezauth_module_send_response()
         */

        h->key.len = eh.name.len;
        h->key.data = ngx_pnalloc(r->pool, eh.name.len * 2 + eh.value.len);
        if (h->key.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(h->key.data, eh.name.ptr, eh.name.len);

        h->lowcase_key = h->key.data + eh.name.len;
        h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);

        h->value.len = eh.value.len;
        h->value.data = h->lowcase_key + eh.name.len;
        ngx_memcpy(h->value.data, eh.value.ptr, eh.value.len);

#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        if (moved) {
            continue;
        }

        /* a header nginx keeps a pointer to (none of the X-MS-* ones) */

        hh = ngx_hash_find(&cmcf->headers_in_hash, h->hash, h->lowcase_key,
                           h->key.len);

        if (hh) {
            ngx_http_ezauth_reindex_header(r, hh);
        }
    }

    if (moved) {

        /* the headers that stayed moved up: repoint every hashed one */

        for (hh = ngx_http_headers_in; hh->name.len; hh++) {
            ngx_http_ezauth_reindex_header(r, hh);
        }
    }

    return NGX_OK;
}


/*
 * Removes every request header whose name is in names[]: the headers that
 * stay are moved up in place, within the list's own arrays, so that every
 * part but the last stays full and ngx_list_push() keeps working.  Returns
 * NGX_DECLINED when nothing was removed (and so nothing moved).
 */

static ngx_int_t
ngx_http_ezauth_strip_headers(ngx_http_request_t *r, ngx_str_t *names,
    ngx_uint_t n)
{
    ngx_uint_t        i, wi, removed;
    ngx_list_t       *list;
    ngx_list_part_t  *part, *wpart;
    ngx_table_elt_t  *h, *wh;

    list = &r->headers_in.headers;

    wpart = &list->part;
    wh = wpart->elts;
    wi = 0;
    removed = 0;

    for (part = &list->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {

            if (ngx_http_ezauth_name_in(&h[i].key, names, n)) {
                ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "ezauth: removing request header \"%V: %V\"",
                               &h[i].key, &h[i].value);
                removed++;
                continue;
            }

            if (wi == list->nalloc) {
                wpart->nelts = wi;
                wpart = wpart->next;
                wh = wpart->elts;
                wi = 0;
            }

            if (&wh[wi] != &h[i]) {
                wh[wi] = h[i];
            }

            wi++;
        }
    }

    if (removed == 0) {
        return NGX_DECLINED;
    }

    wpart->nelts = wi;
    wpart->next = NULL;
    list->last = wpart;

    return NGX_OK;
}


/*
 * Points one of the request's hashed headers (r->headers_in.host, .cookies,
 * ...) at what the list now holds.  Values nginx derived when it read the
 * headers (content_length_n, server, keep-alive) are not recomputed: the
 * library edits only the X-MS-* headers it owns.
 */

static void
ngx_http_ezauth_reindex_header(ngx_http_request_t *r, ngx_http_header_t *hh)
{
    u_char           *field;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, **ph;
#if (nginx_version < 1023000)
    ngx_array_t      *a;
    ngx_uint_t        multi;
#endif

    if (hh->offset == 0) {
        return;
    }

    field = (u_char *) &r->headers_in + hh->offset;

#if (nginx_version < 1023000)

    /* nginx before 1.23 keeps the repeatable ones in arrays */

    multi = (hh->offset == offsetof(ngx_http_headers_in_t, cookies));
#if (NGX_HTTP_X_FORWARDED_FOR)
    multi |= (hh->offset == offsetof(ngx_http_headers_in_t, x_forwarded_for));
#endif

    a = NULL;

    if (multi) {
        a = (ngx_array_t *) field;

        if (a->elts == NULL
            && ngx_array_init(a, r->pool, 1, sizeof(ngx_table_elt_t *))
               != NGX_OK)
        {
            return;
        }

        a->nelts = 0;
    }

#endif

    ph = (ngx_table_elt_t **) field;

#if (nginx_version < 1023000)
    if (a == NULL) {
        *ph = NULL;
    }
#else
    *ph = NULL;
#endif

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {

            if (h[i].key.len != hh->name.len
                || ngx_strncasecmp(h[i].key.data, hh->name.data, hh->name.len)
                   != 0)
            {
                continue;
            }

#if (nginx_version < 1023000)

            if (a) {
                ph = ngx_array_push(a);
                if (ph != NULL) {
                    *ph = &h[i];
                }

                continue;
            }

            /* the first one, as ngx_http_process_header_line() keeps */

            if (*ph == NULL) {
                *ph = &h[i];
            }

#else
            *ph = &h[i];
            h[i].next = NULL;
            ph = &h[i].next;
#endif
        }
    }
}


static ngx_uint_t
ngx_http_ezauth_name_in(ngx_str_t *name, ngx_str_t *names, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (names[i].len == name->len
            && ngx_strncasecmp(names[i].data, name->data, name->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ezauth_header *
ngx_http_ezauth_list_headers(ngx_http_request_t *r, ngx_list_t *list,
    ngx_str_t *extra_name, ngx_str_t *extra_value, size_t *count)
{
    size_t            n;
    ngx_uint_t        i;
    ezauth_header    *eh;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = (extra_name != NULL);

    for (part = &list->part; part; part = part->next) {
        n += part->nelts;
    }

    *count = 0;

    if (n == 0) {
        return NULL;
    }

    eh = ngx_palloc(r->pool, n * sizeof(ezauth_header));
    if (eh == NULL) {
        *count = n;
        return NULL;
    }

    n = 0;

    for (part = &list->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {

            if (h[i].hash == 0) {
                continue;
            }

            eh[n].name.ptr = h[i].key.data;
            eh[n].name.len = h[i].key.len;
            eh[n].value.ptr = h[i].value.data;
            eh[n].value.len = h[i].value.len;
            n++;
        }
    }

    if (extra_name) {
        eh[n].name.ptr = extra_name->data;
        eh[n].name.len = extra_name->len;
        eh[n].value.ptr = extra_value->data;
        eh[n].value.len = extra_value->len;
        n++;
    }

    *count = n;

    return eh;
}


static ngx_http_ezauth_ctx_t *
ngx_http_ezauth_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_ezauth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ezauth_module);

    if (ctx || !r->internal) {
        return ctx;
    }

    /*
     * an internal redirect zeroes the module contexts; the context
     * survives in the request pool's cleanup list
     */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_ezauth_cleanup) {
            ctx = cln->data;

            if (ctx->request == r) {
                ngx_http_set_ctx(r, ctx, ngx_http_ezauth_module);
                return ctx;
            }
        }
    }

    return NULL;
}


static ngx_http_ezauth_ctx_t *
ngx_http_ezauth_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_ezauth_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ezauth_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_ezauth_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->state = NGX_HTTP_EZAUTH_START;

    ngx_http_set_ctx(r, ctx, ngx_http_ezauth_module);

    return ctx;
}


static void
ngx_http_ezauth_cleanup(void *data)
{
    ngx_http_ezauth_ctx_t  *ctx = data;

    ezauth_outcome_free(ctx->outcome);
    ctx->outcome = NULL;
}


static ngx_int_t
ngx_http_ezauth_header_filter(ngx_http_request_t *r)
{
    size_t                  n;
    ezauth_result           rc;
    ezauth_header          *headers;
    ngx_http_ezauth_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_ezauth_get_ctx(r);

    if (ctx == NULL
        || ctx->outcome == NULL
        || ctx->state != NGX_HTTP_EZAUTH_DONE
        || ctx->action != EZAUTH_ACTION_CONTINUE
        || ctx->response_seen)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx->response_seen = 1;

    headers = ngx_http_ezauth_list_headers(r, &r->headers_out.headers,
                                           r->headers_out.content_type.len
                                           ? &ngx_http_ezauth_content_type
                                           : NULL,
                                           &r->headers_out.content_type, &n);
    if (headers == NULL && n) {
        return NGX_ERROR;
    }

    rc = ezauth_module_send_response(ctx->module, ctx->outcome,
                                     (uint16_t) r->headers_out.status,
                                     headers, n);

    if (rc != EZAUTH_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ezauth_module_send_response() failed: %s",
                      ezauth_result_name(rc));
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_ezauth_add_response_headers(r, ctx->outcome,
                                             EZAUTH_HEADERS_RESPONSE_ADD)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_ezauth_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t            *cl;
    ngx_http_ezauth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ezauth_module);

    if (ctx == NULL || !ctx->limit_body) {
        return ngx_http_next_request_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        ctx->body_received += ngx_buf_size(cl->buf);
    }

    if (ctx->body_received > NGX_HTTP_EZAUTH_MAX_BODY) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ezauth: request body is over the limit of %d bytes",
                      NGX_HTTP_EZAUTH_MAX_BODY);
        ctx->state = NGX_HTTP_EZAUTH_DONE;
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    return ngx_http_next_request_body_filter(r, in);
}


/*
 * The library's log sink.  The userdata is the configuration cycle that
 * loaded the module: the cycle outlives the module (a cleanup of its pool
 * frees the module), and cycle->log is the cycle's error_log once the cycle
 * is running (the previous cycle's while the configuration is read).  It is
 * called on the event loop and on pool threads; ngx_log_error() only writes
 * to the log files there, as nginx's own thread code does.
 */

static void
ngx_http_ezauth_log(void *userdata, ezauth_log_level level,
    ezauth_str message)
{
    ngx_cycle_t  *cycle = userdata;
    ngx_uint_t    nlevel;

    switch (level) {

    case EZAUTH_LOG_ERROR:
        nlevel = NGX_LOG_ERR;
        break;

    case EZAUTH_LOG_WARN:
        nlevel = NGX_LOG_WARN;
        break;

    case EZAUTH_LOG_INFO:
        nlevel = NGX_LOG_INFO;
        break;

    default:
        nlevel = NGX_LOG_DEBUG;
        break;
    }

    ngx_log_error(nlevel, cycle->log, 0, "ezauth: %*s",
                  message.len, message.ptr);
}


static char *
ngx_http_ezauth_config(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ezauth_loc_conf_t *elcf = conf;

    ngx_str_t  *value, path;

    if (elcf->module != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        elcf->module = NULL;
        return NGX_CONF_OK;
    }

    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    elcf->module = ngx_http_ezauth_load(cf, &path);

    if (elcf->module == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ezauth_module *
ngx_http_ezauth_load(ngx_conf_t *cf, ngx_str_t *path)
{
    ngx_uint_t                    i;
    ezauth_str                    cpath, msg;
    ezauth_error                 *err;
    ezauth_result                 rc;
    ezauth_module                *module;
    ngx_pool_cleanup_t           *cln;
    ngx_http_ezauth_loaded_t     *loaded;
    ngx_http_ezauth_main_conf_t  *emcf;

    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ezauth_module);

    loaded = emcf->loaded.elts;

    for (i = 0; i < emcf->loaded.nelts; i++) {
        if (loaded[i].path.len == path->len
            && ngx_strncmp(loaded[i].path.data, path->data, path->len) == 0)
        {
            return loaded[i].module;
        }
    }

    if (ezauth_abi_version() != EZAUTH_ABI_VERSION) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the ezauth library implements ABI version %uD, "
                           "this module was built for version %d",
                           ezauth_abi_version(), EZAUTH_ABI_VERSION);
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cpath.ptr = path->data;
    cpath.len = path->len;

    module = NULL;
    err = NULL;

    rc = ezauth_module_new(cpath, ngx_http_ezauth_log, cf->cycle, &module,
                           &err);

    if (rc != EZAUTH_OK) {
        msg = ezauth_error_message(err);

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ezauth_config \"%V\": %*s (%s)", path,
                           msg.len, msg.ptr, ezauth_result_name(rc));

        ezauth_error_free(err);
        return NULL;
    }

    cln->handler = ngx_http_ezauth_module_cleanup;
    cln->data = module;

    loaded = ngx_array_push(&emcf->loaded);
    if (loaded == NULL) {
        return NULL;
    }

    loaded->path = *path;
    loaded->module = module;

    ngx_log_error(NGX_LOG_INFO, cf->log, 0, "ezauth %*s loaded \"%V\"",
                  ezauth_version().len, ezauth_version().ptr, path);

    return module;
}


static void
ngx_http_ezauth_module_cleanup(void *data)
{
    ezauth_module  *module = data;

    ezauth_module_free(module);
}


static void *
ngx_http_ezauth_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ezauth_main_conf_t  *emcf;

    emcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ezauth_main_conf_t));
    if (emcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&emcf->loaded, cf->pool, 2,
                       sizeof(ngx_http_ezauth_loaded_t))
        != NGX_OK)
    {
        return NULL;
    }

    return emcf;
}


static void *
ngx_http_ezauth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ezauth_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ezauth_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->thread_pool_name = { 0, NULL };
     *     conf->thread_pool = NULL;
     */

    conf->module = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_ezauth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ezauth_loc_conf_t *prev = parent;
    ngx_http_ezauth_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->module, prev->module, NULL);

    ngx_conf_merge_str_value(conf->thread_pool_name, prev->thread_pool_name,
                             "default");

    if (conf->module == NULL) {
        return NGX_CONF_OK;
    }

#if (NGX_THREADS)

    conf->thread_pool = ngx_thread_pool_add(cf, &conf->thread_pool_name);

    if (conf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "ezauth needs nginx built with threads "
                       "(--with-threads): calls to identity providers "
                       "must not block the event loop");

    return NGX_CONF_ERROR;

#endif
}


static ngx_int_t
ngx_http_ezauth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ezauth_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ezauth_header_filter;

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_ezauth_request_body_filter;

    return NGX_OK;
}
