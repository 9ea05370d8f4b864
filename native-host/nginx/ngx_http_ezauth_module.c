
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
 * Whatever the library says, the module itself removes client-sent identity
 * headers (X-MS-CLIENT-PRINCIPAL*, X-MS-TOKEN-*) on their raw bytes before
 * anything else happens to a request, writes no header from the library
 * that is not a valid one, judges a request again when an internal
 * redirect takes it under another configuration or to another target (on
 * the target the upstream receives), and judges subrequests (which get no
 * access phase) in the precontent phase.
 *
 * Each distinct configuration file is loaded once per configuration cycle,
 * in the master at configuration time, so that "nginx -t" reports ezauth's
 * errors and a reload with a broken file keeps the running configuration.
 * Workers inherit the loaded modules over fork(); the modules are freed by
 * a cleanup of the cycle pool.
 *
 * Each loaded module counts its metrics in a shared memory zone of its own
 * ("ezauth_metrics_N_SIZE"), made by the master at configuration and
 * attached to the module by the zone's init callback before the workers
 * fork: every worker increments the same atomics, so one scrape of the
 * metrics route, whichever worker answers it, shows the sum over all
 * workers.  The zone's name holds its size, so a zone nginx keeps across a
 * reload is one of the same layout size.
 *
 * The master (root) loads the files, but the workers (the "user" directive)
 * use the token store: the library creates nothing when it loads a file,
 * and a second, core module checks, once nginx's core configuration knows
 * the workers' user, that this user can use each token directory, so that
 * "nginx -t", a start or a reload refuses a directory the workers could not
 * write instead of answering 503 at the first sign-in.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ezauth.h>


/* bodies of POST requests to the /.auth routes are read up to this size */
#define NGX_HTTP_EZAUTH_MAX_BODY    65536


/* a header name in a log line: 128 bytes, each at most "\xHH", and "..." */
#define NGX_HTTP_EZAUTH_NAME_LOG    (128 * 4 + 8)


#define NGX_HTTP_EZAUTH_START       0
#define NGX_HTTP_EZAUTH_BODY        1
#define NGX_HTTP_EZAUTH_BODY_DONE   2
#define NGX_HTTP_EZAUTH_BLOCKING    3
#define NGX_HTTP_EZAUTH_RESUMED     4
/* judged: the library let the request through (or the location is "off") */
#define NGX_HTTP_EZAUTH_JUDGED      5
/* answered by the library, or failed before it judged */
#define NGX_HTTP_EZAUTH_DONE        6


typedef struct {
    ngx_str_t                   path;
    ezauth_module              *module;
} ngx_http_ezauth_loaded_t;


typedef struct {
    ngx_array_t                 loaded;     /* ngx_http_ezauth_loaded_t */
} ngx_http_ezauth_main_conf_t;


typedef struct {
    ezauth_module              *module;     /* NULL: "off" */
    /* ezauth_config here or above ("off" here too): identity headers go */
    ngx_flag_t                  scrub;
    ngx_str_t                   thread_pool_name;
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool;
#endif
} ngx_http_ezauth_loc_conf_t;


typedef struct {
    ngx_http_request_t         *request;
    const ezauth_module        *module;     /* the configuration that judges */
    ngx_str_t                   target;     /* the target it judges */
    ezauth_outcome             *outcome;
    ezauth_action               action;
    ezauth_result               blocking_rc;
#if (NGX_THREADS)
    ngx_thread_task_t          *task;
#endif
    off_t                       body_received;
    /* the body could not be read (413, 400): so for every judgement */
    ngx_int_t                   body_error;
    ngx_uint_t                  state;
    unsigned                    limit_body:1;
    unsigned                    response_seen:1;
} ngx_http_ezauth_ctx_t;


typedef ngx_uint_t (*ngx_http_ezauth_match_pt)(ngx_str_t *name, void *data);


typedef struct {
    ngx_str_t                  *names;
    ngx_uint_t                  n;
} ngx_http_ezauth_names_t;


static ngx_int_t ngx_http_ezauth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ezauth_rejudge(ngx_http_request_t *r,
    ngx_http_ezauth_ctx_t *ctx, ngx_http_ezauth_loc_conf_t *elcf);
static ngx_int_t ngx_http_ezauth_subrequest_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ezauth_target(ngx_http_request_t *r,
    ngx_str_t *target);
static ngx_uint_t ngx_http_ezauth_under_prefix(ngx_str_t *uri,
    const ezauth_module *module);
static ngx_int_t ngx_http_ezauth_read_body(ngx_http_request_t *r,
    ngx_http_ezauth_ctx_t *ctx);
static void ngx_http_ezauth_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ezauth_request_view(ngx_http_request_t *r,
    ezauth_request *req);
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
    ezauth_outcome *outcome);
static ngx_int_t ngx_http_ezauth_check_headers(ngx_http_request_t *r,
    ezauth_outcome *outcome, ezauth_header_set set, const char *what);
static ngx_int_t ngx_http_ezauth_add_response_headers(ngx_http_request_t *r,
    ezauth_outcome *outcome, ezauth_header_set set);
static ngx_int_t ngx_http_ezauth_edit_request_headers(ngx_http_request_t *r,
    ezauth_outcome *outcome);
static ngx_int_t ngx_http_ezauth_scrub(ngx_http_request_t *r, ngx_uint_t level,
    const char *why);
static ngx_int_t ngx_http_ezauth_remove_headers(ngx_http_request_t *r,
    ngx_http_ezauth_match_pt match, void *data, ngx_uint_t level,
    const char *why);
static void ngx_http_ezauth_reindex_header(ngx_http_request_t *r,
    ngx_http_header_t *hh);
static ngx_uint_t ngx_http_ezauth_match_names(ngx_str_t *name, void *data);
static ngx_uint_t ngx_http_ezauth_match_reserved(ngx_str_t *name,
    void *data);
static ngx_uint_t ngx_http_ezauth_reserved_name(u_char *p, size_t len);
static ngx_uint_t ngx_http_ezauth_routing_override(u_char *p, size_t len);
static ngx_uint_t ngx_http_ezauth_name_matches(u_char *p, size_t len,
    ngx_str_t *names, ngx_uint_t prefix);
static ngx_uint_t ngx_http_ezauth_token(u_char *p, size_t len);
static ngx_uint_t ngx_http_ezauth_field_value(u_char *p, size_t len);
static u_char *ngx_http_ezauth_printable(u_char *buf, size_t size,
    u_char *p, size_t len);
static ezauth_header *ngx_http_ezauth_list_headers(ngx_http_request_t *r,
    ngx_list_t *list, ngx_uint_t request, ngx_str_t *extra_name,
    ngx_str_t *extra_value, size_t *count);
static ngx_http_ezauth_ctx_t *ngx_http_ezauth_find_ctx(ngx_http_request_t *r);
static ngx_http_ezauth_ctx_t *ngx_http_ezauth_get_ctx(ngx_http_request_t *r,
    ngx_uint_t *restored);
static ngx_http_ezauth_ctx_t *ngx_http_ezauth_create_ctx(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_ezauth_keep_outcome(ngx_http_request_t *r,
    ezauth_outcome *outcome);
static void ngx_http_ezauth_cleanup(void *data);
static void ngx_http_ezauth_outcome_cleanup(void *data);

static ngx_int_t ngx_http_ezauth_header_filter(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ezauth_adds(ezauth_outcome *outcome,
    const char *name);
static ngx_int_t ngx_http_ezauth_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);

static void ngx_http_ezauth_log(void *userdata,
    const ezauth_log_event *event);
static char *ngx_http_ezauth_config(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ezauth_module *ngx_http_ezauth_load(ngx_conf_t *cf, ngx_str_t *path);
static void ngx_http_ezauth_module_cleanup(void *data);
static void *ngx_http_ezauth_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ezauth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ezauth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ezauth_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_ezauth_add_metrics_zone(ngx_conf_t *cf,
    ezauth_module *module, ngx_uint_t n);
static ngx_int_t ngx_http_ezauth_init_metrics_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static char *ngx_http_ezauth_check_stores(ngx_cycle_t *cycle, void *conf);


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


/*
 * A core module's init_conf runs after the core module's (which resolves the
 * "user" directive and its default) and after the http block was parsed,
 * and its failure refuses "nginx -t", a start or a reload like any other
 * configuration error.
 */
static ngx_core_module_t  ngx_http_ezauth_store_module_ctx = {
    ngx_string("ezauth_store"),
    NULL,                                  /* create configuration */
    ngx_http_ezauth_check_stores           /* init configuration */
};


ngx_module_t  ngx_http_ezauth_store_module = {
    NGX_MODULE_V1,
    &ngx_http_ezauth_store_module_ctx,     /* module context */
    NULL,                                  /* module directives */
    NGX_CORE_MODULE,                       /* module type */
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


/*
 * The access phase handler (main requests only: nginx runs no access
 * handler for subrequests).
 *
 * Client-sent identity headers are removed first, by the module itself, on
 * their raw bytes and before anything can end the request: an error page
 * ("error_page 413 = @app") must not carry them to an application.
 *
 * A judgement holds for one configuration and one target: an internal
 * redirect (error_page, try_files, X-Accel-Redirect, index) changes the URI
 * the upstream receives, so the request is judged again, on its new target,
 * even under the same ezauth_config.  Only a redirect that cannot change the
 * answer keeps it: the same configuration and the same target (a named
 * location keeps r->uri and r->args).  Into "off", the identity headers go.
 * A request that was never let through (it failed, or the library answered
 * it) is judged again wherever it lands.
 */

static ngx_int_t
ngx_http_ezauth_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    target;
    ngx_uint_t                   restored;
    ngx_http_ezauth_ctx_t       *ctx;
    ngx_http_ezauth_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_ezauth_module);

    ctx = ngx_http_ezauth_get_ctx(r, &restored);

    if (ctx == NULL) {

        if (!elcf->scrub) {
            /* no ezauth_config here or above: as if the module were absent */
            return NGX_DECLINED;
        }

        if (ngx_http_ezauth_scrub(r, NGX_LOG_WARN,
                                  "removed client-sent identity header")
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (elcf->module == NULL) {
            return NGX_DECLINED;
        }

        ctx = ngx_http_ezauth_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->module = elcf->module;

    } else if (restored) {

        /* the phases run again after an internal redirect */

        if (ctx->state == NGX_HTTP_EZAUTH_JUDGED
            && ctx->module == elcf->module)
        {
            if (ctx->module == NULL) {
                /* "off" to "off": nothing was judged, nothing to remove */
                return NGX_DECLINED;
            }

            if (ngx_http_ezauth_target(r, &target) != NGX_OK) {
                ctx->state = NGX_HTTP_EZAUTH_DONE;
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (target.len == ctx->target.len
                && ngx_memcmp(target.data, ctx->target.data, target.len) == 0)
            {
                /* the same question to the same configuration */
                return NGX_DECLINED;
            }
        }

        rc = ngx_http_ezauth_rejudge(r, ctx, elcf);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ezauth access handler, state %ui", ctx->state);

    switch (ctx->state) {

    case NGX_HTTP_EZAUTH_START:

        if (ngx_http_ezauth_target(r, &ctx->target) != NGX_OK) {
            ctx->state = NGX_HTTP_EZAUTH_DONE;
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the POST routes (client-directed login, form_post callbacks) */

        if (r->method == NGX_HTTP_POST
            && ngx_http_ezauth_under_prefix(&ctx->target, ctx->module))
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

    case NGX_HTTP_EZAUTH_JUDGED:
        return NGX_DECLINED;

    default: /* NGX_HTTP_EZAUTH_DONE */

        /* ended, and no internal redirect since: nothing may pass */

        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ezauth: access phase of a request that was not "
                      "let through");

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/*
 * After an internal redirect into a location whose configuration did not
 * let the request through, or to another target: the identity headers of
 * the previous judgement go, and the request starts over under the
 * location's configuration, on its new target.
 */

static ngx_int_t
ngx_http_ezauth_rejudge(ngx_http_request_t *r, ngx_http_ezauth_ctx_t *ctx,
    ngx_http_ezauth_loc_conf_t *elcf)
{
    if (ctx->state == NGX_HTTP_EZAUTH_BLOCKING) {

        /* a parked request is not redirected; should it be, it may not go on */

        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ezauth: internal redirect during a blocking step");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->state == NGX_HTTP_EZAUTH_BODY && ctx->body_error == 0) {

        /*
         * reading the body failed (an error page follows): nothing is judged
         * on part of it
         */

        ctx->body_error = NGX_HTTP_BAD_REQUEST;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ezauth: internal redirect to \"%V\": judged again by %s",
                  &r->uri,
                  elcf->module ? "its ezauth_config" : "\"ezauth_config off\"");

    if (ngx_http_ezauth_scrub(r, NGX_LOG_INFO,
                              "removed identity header of the previous "
                              "judgement")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * the previous outcome may still be referenced (response headers of an
     * answer that failed): it lives as long as the request
     */

    if (ctx->outcome) {
        if (ngx_http_ezauth_keep_outcome(r, ctx->outcome) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->outcome = NULL;
    }

    ctx->module = elcf->module;
    ctx->action = EZAUTH_ACTION_CONTINUE;
    ctx->blocking_rc = EZAUTH_OK;
    ctx->body_received = 0;
    ctx->limit_body = 0;
    ctx->response_seen = 0;

    if (ctx->module == NULL) {
        ctx->state = NGX_HTTP_EZAUTH_JUDGED;
        return NGX_DECLINED;
    }

    ctx->state = NGX_HTTP_EZAUTH_START;

    return NGX_OK;
}


/*
 * The precontent phase handler, for subrequests (auth_request, SSI,
 * mirror, ...).  A subrequest shares the main request's headers, so it
 * carries the main request's judgement: its identity headers.  That holds
 * only under the configuration that judged the main request, and only for
 * what that configuration lets that client reach: the library judges the
 * subrequest's URI too, and its answer (a redirect to the login page, a
 * 401, a /.auth route) is the subrequest's response.  A subrequest into a
 * location with another configuration is refused (403): one set of headers
 * cannot carry two judgements.
 */

static ngx_int_t
ngx_http_ezauth_subrequest_handler(ngx_http_request_t *r)
{
    u_char                      *p;
    size_t                       len;
    uintptr_t                    escape;
    ngx_int_t                    rc;
    ezauth_result                erc;
    ezauth_action                action;
    ezauth_request               req;
    ezauth_outcome              *outcome;
    ngx_http_ezauth_ctx_t       *mctx;
    ngx_http_ezauth_loc_conf_t  *elcf;

    if (r == r->main) {
        return NGX_DECLINED;
    }

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_ezauth_module);

    if (elcf->module == NULL) {
        return NGX_DECLINED;
    }

    mctx = ngx_http_ezauth_find_ctx(r->main);

    if (mctx == NULL
        || mctx->state != NGX_HTTP_EZAUTH_JUDGED
        || mctx->module != elcf->module)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ezauth: subrequest \"%V\" to a location whose "
                      "ezauth_config did not judge the main request: "
                      "refused", &r->uri);
        return NGX_HTTP_FORBIDDEN;
    }

    /* the subrequest's own target: its URI, escaped again, and arguments */

    escape = 2 * ngx_escape_uri(NULL, r->uri.data, r->uri.len,
                                NGX_ESCAPE_URI);
    len = r->uri.len + escape + (r->args.len ? 1 + r->args.len : 0);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&req, sizeof(ezauth_request));

    req.target.ptr = p;
    req.target.len = len;

    if (escape) {
        p = (u_char *) ngx_escape_uri(p, r->uri.data, r->uri.len,
                                      NGX_ESCAPE_URI);
    } else {
        p = ngx_cpymem(p, r->uri.data, r->uri.len);
    }

    if (r->args.len) {
        *p++ = '?';
        ngx_memcpy(p, r->args.data, r->args.len);
    }

    if (ngx_http_ezauth_request_view(r, &req) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    outcome = NULL;

    erc = ezauth_module_begin_request(elcf->module, &req, r->connection->log,
                                      &outcome);

    if (erc != EZAUTH_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ezauth_module_begin_request() failed: %s",
                      ezauth_result_name(erc));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the answer's views are sent on later: the outcome lives as long as r */

    if (ngx_http_ezauth_keep_outcome(r, outcome) != NGX_OK) {
        ezauth_outcome_free(outcome);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    action = ezauth_outcome_action(outcome);

    switch (action) {

    case EZAUTH_ACTION_CONTINUE:

        /* let through: with the main request's headers, never edited here */

        return NGX_DECLINED;

    case EZAUTH_ACTION_FINISH:

        rc = ngx_http_ezauth_send_outcome(r, outcome);

        ngx_http_finalize_request(r, rc);
        return NGX_DONE;

    default: /* EZAUTH_ACTION_BLOCKING */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ezauth: subrequest \"%V\" needs a call to the "
                      "identity provider, which subrequests do not make: "
                      "refused", &r->uri);

        return NGX_HTTP_FORBIDDEN;
    }
}


/*
 * The target the library judges: what the upstream will receive, built as
 * ngx_http_proxy_module builds it.  The client's raw target while nginx
 * still sends that on (r->valid_unparsed_uri); after a rewrite or an
 * internal redirect, r->uri escaped again (NGX_ESCAPE_URI) and r->args,
 * never the client's old target.  (What a proxy_pass with a URI part maps
 * it to is the configuration's own business, as for any request.)
 */

static ngx_int_t
ngx_http_ezauth_target(ngx_http_request_t *r, ngx_str_t *target)
{
    u_char     *p;
    size_t      len;
    uintptr_t   escape;

    if (r->valid_unparsed_uri) {
        *target = r->unparsed_uri;
        return NGX_OK;
    }

    escape = 2 * ngx_escape_uri(NULL, r->uri.data, r->uri.len,
                                NGX_ESCAPE_URI);
    len = r->uri.len + escape + (r->args.len ? 1 + r->args.len : 0);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    target->data = p;
    target->len = len;

    if (escape) {
        p = (u_char *) ngx_escape_uri(p, r->uri.data, r->uri.len,
                                      NGX_ESCAPE_URI);
    } else {
        p = ngx_cpymem(p, r->uri.data, r->uri.len);
    }

    if (r->args.len) {
        *p++ = '?';
        ngx_memcpy(p, r->args.data, r->args.len);
    }

    return NGX_OK;
}


/* is the target under the route prefix (httpSettings.routes.apiPrefix)? */

static ngx_uint_t
ngx_http_ezauth_under_prefix(ngx_str_t *uri, const ezauth_module *module)
{
    u_char      next;
    ezauth_str  prefix;

    prefix = ezauth_module_api_prefix(module);

    if (prefix.len == 0 || uri->len < prefix.len
        || ngx_strncasecmp(uri->data, (u_char *) prefix.ptr, prefix.len) != 0)
    {
        return 0;
    }

    if (uri->len == prefix.len) {
        return 1;
    }

    next = uri->data[prefix.len];

    return next == '/' || next == '?';
}


static ngx_int_t
ngx_http_ezauth_read_body(ngx_http_request_t *r, ngx_http_ezauth_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->body_error) {
        ctx->state = NGX_HTTP_EZAUTH_DONE;
        return ctx->body_error;
    }

    if (r->headers_in.content_length_n > NGX_HTTP_EZAUTH_MAX_BODY) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ezauth: request body of %O bytes is over the limit "
                      "of %d bytes", r->headers_in.content_length_n,
                      NGX_HTTP_EZAUTH_MAX_BODY);
        ctx->body_error = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
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


/*
 * The library's view of a request, but for its target and body: method,
 * scheme, host, client address and every header (client-sent identity
 * headers were removed before).
 */

static ngx_int_t
ngx_http_ezauth_request_view(ngx_http_request_t *r, ezauth_request *req)
{
    ngx_http_core_srv_conf_t  *cscf;

    req->method.ptr = r->method_name.data;
    req->method.len = r->method_name.len;

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        req->scheme.ptr = (const uint8_t *) "https";
        req->scheme.len = sizeof("https") - 1;

    } else
#endif
    {
        req->scheme.ptr = (const uint8_t *) "http";
        req->scheme.len = sizeof("http") - 1;
    }

    if (r->host_start && r->host_end) {

        /* absolute-form request target: its authority wins over Host */

        req->host.ptr = r->host_start;
        req->host.len = (r->port_end ? r->port_end : r->host_end)
                        - r->host_start;

    } else if (r->headers_in.host) {
        req->host.ptr = r->headers_in.host->value.data;
        req->host.len = r->headers_in.host->value.len;

    } else if (r->headers_in.server.len) {
        req->host.ptr = r->headers_in.server.data;
        req->host.len = r->headers_in.server.len;

    } else {
        cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
        req->host.ptr = cscf->server_name.data;
        req->host.len = cscf->server_name.len;
    }

    req->client_addr.ptr = r->connection->addr_text.data;
    req->client_addr.len = r->connection->addr_text.len;

    req->headers = ngx_http_ezauth_list_headers(r, &r->headers_in.headers, 1,
                                                NULL, NULL,
                                                &req->header_count);
    if (req->headers == NULL && req->header_count) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ezauth_begin(ngx_http_request_t *r, ngx_http_ezauth_ctx_t *ctx)
{
    ezauth_result                rc;
    ezauth_request               req;
    ngx_http_ezauth_loc_conf_t  *elcf;

    ngx_memzero(&req, sizeof(ezauth_request));

    req.target.ptr = ctx->target.data;
    req.target.len = ctx->target.len;

    if (ngx_http_ezauth_request_view(r, &req) != NGX_OK) {
        ctx->state = NGX_HTTP_EZAUTH_DONE;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->state == NGX_HTTP_EZAUTH_BODY_DONE) {
        if (ngx_http_ezauth_request_body(r, &req.body) != NGX_OK) {
            ctx->state = NGX_HTTP_EZAUTH_DONE;
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (req.body.len > NGX_HTTP_EZAUTH_MAX_BODY) {
            ctx->body_error = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
            ctx->state = NGX_HTTP_EZAUTH_DONE;
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }

    rc = ezauth_module_begin_request(ctx->module, &req, r->connection->log,
                                     &ctx->outcome);

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

        if (ngx_http_ezauth_edit_request_headers(r, ctx->outcome) != NGX_OK) {
            ctx->state = NGX_HTTP_EZAUTH_DONE;
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->state = NGX_HTTP_EZAUTH_JUDGED;

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

        rc = ngx_http_ezauth_send_outcome(r, ctx->outcome);

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

    /*
     * a pool thread: nothing but the library is touched here; its log lines
     * go to the request's connection log, which lives as long as the request
     * (blocked, and not freed, until this task is done)
     */

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0, "ezauth thread handler");

    ctx->blocking_rc = ezauth_outcome_run_blocking(ctx->outcome);
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
ngx_http_ezauth_send_outcome(ngx_http_request_t *r, ezauth_outcome *outcome)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_uint_t    status;
    ezauth_str    body;
    ngx_chain_t   out;

    status = ezauth_outcome_status(outcome);

    if (status < 100 || status > 999) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ezauth: bad response status %ui", status);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* all or nothing: no answer goes out with part of its headers */

    if (ngx_http_ezauth_check_headers(r, outcome, EZAUTH_HEADERS_RESPONSE,
                                      "response")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;

    if (ngx_http_ezauth_add_response_headers(r, outcome,
                                             EZAUTH_HEADERS_RESPONSE)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = ezauth_outcome_body(outcome);

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
    b->last_buf = (r == r->main) ? 1 : 0;   /* a subrequest's ends its part */
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Are all the headers of one of the library's lists fit to be written (the
 * name a token, no control byte but HTAB in the value)?  Logs the first one
 * that is not, by its name: never a value.
 */

static ngx_int_t
ngx_http_ezauth_check_headers(ngx_http_request_t *r, ezauth_outcome *outcome,
    ezauth_header_set set, const char *what)
{
    u_char         buf[NGX_HTTP_EZAUTH_NAME_LOG], *last;
    size_t         i, n;
    ezauth_header  eh;

    n = ezauth_outcome_header_count(outcome, set);

    for (i = 0; i < n; i++) {

        if (ezauth_outcome_header(outcome, set, i, &eh) != EZAUTH_OK) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ezauth: cannot read %s header %uz", what, i);
            return NGX_ERROR;
        }

        if (!ngx_http_ezauth_token((u_char *) eh.name.ptr, eh.name.len)
            || !ngx_http_ezauth_field_value((u_char *) eh.value.ptr,
                                            eh.value.len))
        {
            last = ngx_http_ezauth_printable(buf, sizeof(buf),
                                             (u_char *) eh.name.ptr,
                                             eh.name.len);

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ezauth: the library gave an invalid %s header "
                          "\"%*s\" (not a token, or a control byte in its "
                          "value): refused with 500",
                          what, (size_t) (last - buf), buf);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ezauth_add_response_headers(ngx_http_request_t *r,
    ezauth_outcome *outcome, ezauth_header_set set)
{
    u_char            buf[NGX_HTTP_EZAUTH_NAME_LOG], *last;
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

        /*
         * a complete answer was checked as a whole; a header to add to the
         * application's response that is not fit is left out
         */

        if (!ngx_http_ezauth_token(name.data, name.len)
            || !ngx_http_ezauth_field_value((u_char *) eh.value.ptr,
                                            eh.value.len))
        {
            last = ngx_http_ezauth_printable(buf, sizeof(buf), name.data,
                                             name.len);

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ezauth: the library gave an invalid response "
                          "header \"%*s\" (not a token, or a control byte "
                          "in its value): not sent",
                          (size_t) (last - buf), buf);
            continue;
        }

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
    ngx_uint_t                  n;
    ezauth_header               eh;
    ngx_table_elt_t            *h;
    ngx_http_header_t          *hh;
    ngx_http_ezauth_names_t     match;
    ngx_http_core_main_conf_t  *cmcf;

    nremove = ezauth_outcome_header_count(outcome,
                                          EZAUTH_HEADERS_REQUEST_REMOVE);
    nset = ezauth_outcome_header_count(outcome, EZAUTH_HEADERS_REQUEST_SET);

    if (nremove + nset == 0) {
        return NGX_OK;
    }

    /* all or nothing: no request goes on with part of the library's headers */

    if (ngx_http_ezauth_check_headers(r, outcome, EZAUTH_HEADERS_REQUEST_SET,
                                      "request")
        != NGX_OK)
    {
        return NGX_ERROR;
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

    match.names = names;
    match.n = n;

    if (ngx_http_ezauth_remove_headers(r, ngx_http_ezauth_match_names, &match,
                                       NGX_LOG_DEBUG, "removing request header")
        == NGX_ERROR)
    {
        return NGX_ERROR;
    }

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
         * copied, NUL-terminated as nginx's parser leaves them: request
         * headers are read until the log phase, and the outcome's views end
         * at ezauth_module_send_response(); the lower-cased name and its
         * hash are what nginx's own lookups ($http_*, proxy_set_header,
         * the hashed headers) compare
         */

        h->key.len = eh.name.len;
        h->key.data = ngx_pnalloc(r->pool,
                                  eh.name.len * 2 + eh.value.len + 3);
        if (h->key.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(h->key.data, eh.name.ptr, eh.name.len);
        h->key.data[h->key.len] = '\0';

        h->lowcase_key = h->key.data + eh.name.len + 1;
        h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);
        h->lowcase_key[h->key.len] = '\0';

        h->value.len = eh.value.len;
        h->value.data = h->lowcase_key + eh.name.len + 1;
        ngx_memcpy(h->value.data, eh.value.ptr, eh.value.len);
        h->value.data[h->value.len] = '\0';

#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        /* a header nginx keeps a pointer to (none of the X-MS-* ones) */

        hh = ngx_hash_find(&cmcf->headers_in_hash, h->hash, h->lowcase_key,
                           h->key.len);

        if (hh) {
            ngx_http_ezauth_reindex_header(r, hh);
        }
    }

    return NGX_OK;
}


/*
 * Removes every identity header (X-MS-CLIENT-PRINCIPAL*, X-MS-TOKEN-*, by
 * ngx_http_ezauth_reserved_name()) from the request, logging each one by
 * its name.
 */

static ngx_int_t
ngx_http_ezauth_scrub(ngx_http_request_t *r, ngx_uint_t level,
    const char *why)
{
    if (ngx_http_ezauth_remove_headers(r, ngx_http_ezauth_match_reserved,
                                       NULL, level, why)
        == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Removes every request header whose name matches: the headers that stay
 * are moved up in place, within the list's own arrays, so that every part
 * but the last stays full and ngx_list_push() keeps working; then nginx's
 * pointers to the hashed headers (r->headers_in.host, .cookies, ...) are
 * pointed at where those moved.  Each removed header is logged by its name,
 * never its value.  Returns NGX_DECLINED when nothing was removed.
 */

static ngx_int_t
ngx_http_ezauth_remove_headers(ngx_http_request_t *r,
    ngx_http_ezauth_match_pt match, void *data, ngx_uint_t level,
    const char *why)
{
    u_char             buf[NGX_HTTP_EZAUTH_NAME_LOG], *last;
    ngx_uint_t         i, wi, removed;
    ngx_list_t        *list;
    ngx_list_part_t   *part, *wpart;
    ngx_table_elt_t   *h, *wh;
    ngx_http_header_t *hh;

    list = &r->headers_in.headers;

    wpart = &list->part;
    wh = wpart->elts;
    wi = 0;
    removed = 0;

    for (part = &list->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {

            if (match(&h[i].key, data)) {

                if (r->connection->log->log_level >= level) {
                    last = ngx_http_ezauth_printable(buf, sizeof(buf),
                                                     h[i].key.data,
                                                     h[i].key.len);

                    ngx_log_error(level, r->connection->log, 0,
                                  "ezauth: %s \"%*s\"", why,
                                  (size_t) (last - buf), buf);
                }

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

    for (hh = ngx_http_headers_in; hh->name.len; hh++) {
        ngx_http_ezauth_reindex_header(r, hh);
    }

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
ngx_http_ezauth_match_names(ngx_str_t *name, void *data)
{
    ngx_http_ezauth_names_t *match = data;

    ngx_uint_t  i;

    for (i = 0; i < match->n; i++) {
        if (match->names[i].len == name->len
            && ngx_strncasecmp(match->names[i].data, name->data, name->len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_http_ezauth_match_reserved(ngx_str_t *name, void *data)
{
    return ngx_http_ezauth_reserved_name(name->data, name->len)
           || ngx_http_ezauth_routing_override(name->data, name->len);
}


/*
 * X-Original-URL and X-Rewrite-URL: some frameworks route on them instead of
 * the request line.  Removed with the identity headers, in "ezauth_config
 * off" locations too: an override sent through one would reach a protected
 * handler of the same application.  Compared as the identity names are.
 */

static ngx_uint_t
ngx_http_ezauth_routing_override(u_char *p, size_t len)
{
    static ngx_str_t  names[] = {
        ngx_string("x-original-url"),
        ngx_string("x-rewrite-url"),
        ngx_null_string
    };

    return ngx_http_ezauth_name_matches(p, len, names, 0);
}


/*
 * Does the name match one of "names" (lower case, '-' for a separator):
 * letters and digits case-insensitively, any other byte as '-'?  With
 * "prefix", the name may go on after it; otherwise it must end there.
 */

static ngx_uint_t
ngx_http_ezauth_name_matches(u_char *p, size_t len, ngx_str_t *names,
    ngx_uint_t prefix)
{
    u_char      c;
    size_t      i;
    ngx_str_t  *name;

    for (name = names; name->len; name++) {

        if (prefix ? len < name->len : len != name->len) {
            continue;
        }

        for (i = 0; i < name->len; i++) {
            c = ((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z')
                 || (p[i] >= 'A' && p[i] <= 'Z'))
                ? ngx_tolower(p[i]) : '-';

            if (c != name->data[i]) {
                break;
            }
        }

        if (i == name->len) {
            return 1;
        }
    }

    return 0;
}


/*
 * Is this a name only the module may set?  X-MS-CLIENT-PRINCIPAL* and
 * X-MS-TOKEN-*, compared on the raw bytes, case-insensitively, with any byte
 * but a letter or digit as '-' ('_' under underscores_in_headers and in the
 * CGI-style names fastcgi and uwsgi make, '.' under "ignore_invalid_headers
 * off") and after any leading whitespace (an obs-fold line, kept as
 * a name under "ignore_invalid_headers off").  The library reads only UTF-8
 * headers; the module removes these itself, whatever their values.
 */

static ngx_uint_t
ngx_http_ezauth_reserved_name(u_char *p, size_t len)
{
    static ngx_str_t  prefixes[] = {
        ngx_string("x-ms-client-principal"),
        ngx_string("x-ms-token-"),
        ngx_null_string
    };

    while (len && (*p == ' ' || *p == '\t' || *p == CR || *p == LF)) {
        p++;
        len--;
    }

    return ngx_http_ezauth_name_matches(p, len, prefixes, 1);
}


/* a header name: an HTTP token (RFC 9110 5.6.2) */

static ngx_uint_t
ngx_http_ezauth_token(u_char *p, size_t len)
{
    u_char  c;

    if (len == 0) {
        return 0;
    }

    while (len--) {
        c = *p++;

        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
            || (c >= 'A' && c <= 'Z'))
        {
            continue;
        }

        switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'':
        case '*': case '+': case '-': case '.': case '^': case '_':
        case '`': case '|': case '~':
            continue;
        }

        return 0;
    }

    return 1;
}


/* a header value: no control byte but HTAB (RFC 9110 5.5) */

static ngx_uint_t
ngx_http_ezauth_field_value(u_char *p, size_t len)
{
    size_t    i;
    uint64_t  w, ctl, del;

    /*
     * Eight bytes at a time (token values are kilobytes and this runs on
     * every signed-in request): flag a byte below 0x20 or equal to 0x7f;
     * a flagged word is decided byte by byte (HTAB is allowed).
     */

    for (i = 0; i + 8 <= len; i += 8) {
        ngx_memcpy(&w, p + i, 8);
        ctl = (w - 0x2020202020202020ULL) & ~w & 0x8080808080808080ULL;
        del = w ^ 0x7f7f7f7f7f7f7f7fULL;
        del = (del - 0x0101010101010101ULL) & ~del & 0x8080808080808080ULL;

        if (ctl | del) {
            break;
        }
    }

    for ( /* void */ ; i < len; i++) {
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/*
 * A header name for a log line: printable ASCII as is, other bytes as \xHH,
 * cut at 128 bytes.  Returns the end of what was written.
 */

static u_char *
ngx_http_ezauth_printable(u_char *buf, size_t size, u_char *p, size_t len)
{
    u_char      *d, *end;
    size_t       i;
    static u_char  hex[] = "0123456789abcdef";

    d = buf;
    end = buf + size;

    for (i = 0; i < len && i < 128 && end - d >= 4; i++) {

        if (p[i] > 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\') {
            *d++ = p[i];
            continue;
        }

        *d++ = '\\';
        *d++ = 'x';
        *d++ = hex[p[i] >> 4];
        *d++ = hex[p[i] & 0xf];
    }

    if (i < len && end - d >= 3) {
        d = ngx_cpymem(d, "...", 3);
    }

    return d;
}


/*
 * The library's view of a header list.  Request headers: every one, those
 * with a zero hash too (nginx's proxy module sends them on), but the
 * identity headers, which are the module's own (client-sent ones were
 * removed before).  Response headers: those nginx will send (a zero hash
 * marks a deleted one).
 */

static ezauth_header *
ngx_http_ezauth_list_headers(ngx_http_request_t *r, ngx_list_t *list,
    ngx_uint_t request, ngx_str_t *extra_name, ngx_str_t *extra_value,
    size_t *count)
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

            if (request) {
                if (ngx_http_ezauth_reserved_name(h[i].key.data,
                                                  h[i].key.len))
                {
                    continue;
                }

            } else if (h[i].hash == 0) {
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


/*
 * The request's context.  An internal redirect zeroes the module contexts;
 * the context survives in the request pool's cleanup list, and *restored
 * tells that it was found there: the phases run again.
 */

static ngx_http_ezauth_ctx_t *
ngx_http_ezauth_get_ctx(ngx_http_request_t *r, ngx_uint_t *restored)
{
    ngx_http_ezauth_ctx_t  *ctx;

    *restored = 0;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ezauth_module);

    if (ctx) {
        return ctx;
    }

    ctx = ngx_http_ezauth_find_ctx(r);

    if (ctx) {
        ngx_http_set_ctx(r, ctx, ngx_http_ezauth_module);
        *restored = 1;
    }

    return ctx;
}


/* the same, without touching the request (the main request of a subrequest) */

static ngx_http_ezauth_ctx_t *
ngx_http_ezauth_find_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_ezauth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ezauth_module);

    if (ctx || !r->internal) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_ezauth_cleanup) {
            ctx = cln->data;

            if (ctx->request == r) {
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


/* an outcome that is freed with the request */

static ngx_int_t
ngx_http_ezauth_keep_outcome(ngx_http_request_t *r, ezauth_outcome *outcome)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_ezauth_outcome_cleanup;
    cln->data = outcome;

    return NGX_OK;
}


static void
ngx_http_ezauth_cleanup(void *data)
{
    ngx_http_ezauth_ctx_t  *ctx = data;

    ezauth_outcome_free(ctx->outcome);
    ctx->outcome = NULL;
}


static void
ngx_http_ezauth_outcome_cleanup(void *data)
{
    ezauth_outcome_free(data);
}


static ngx_int_t
ngx_http_ezauth_header_filter(ngx_http_request_t *r)
{
    size_t                  n;
    ngx_uint_t              restored;
    ezauth_result           rc;
    ezauth_header          *headers;
    ngx_http_ezauth_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_ezauth_get_ctx(r, &restored);

    if (ctx == NULL
        || ctx->outcome == NULL
        || ctx->state != NGX_HTTP_EZAUTH_JUDGED
        || ctx->action != EZAUTH_ACTION_CONTINUE
        || ctx->response_seen)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx->response_seen = 1;

    headers = ngx_http_ezauth_list_headers(r, &r->headers_out.headers, 0,
                                           r->headers_out.content_type.len
                                           ? &ngx_http_ezauth_content_type
                                           : NULL,
                                           &r->headers_out.content_type, &n);
    if (headers == NULL && n) {
        return NGX_ERROR;
    }

    rc = ezauth_module_send_response(ctx->outcome, headers, n);

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

    /*
     * The library adds a Cache-Control ("private") to a signed-in caller's
     * response whose application set none. nginx's own cache (proxy_cache
     * and friends) judges the upstream's headers, not ours, but decides after
     * this filter: it must not keep that response either.
     */

    if (r->upstream && ngx_http_ezauth_adds(ctx->outcome, "Cache-Control")) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ezauth: a signed-in response, not cacheable");
        r->upstream->cacheable = 0;
    }

    return ngx_http_next_header_filter(r);
}


/* does the library add a header of that name to the application's response? */

static ngx_uint_t
ngx_http_ezauth_adds(ezauth_outcome *outcome, const char *name)
{
    size_t         i, n, len;
    ezauth_header  eh;

    len = ngx_strlen(name);
    n = ezauth_outcome_header_count(outcome, EZAUTH_HEADERS_RESPONSE_ADD);

    for (i = 0; i < n; i++) {
        if (ezauth_outcome_header(outcome, EZAUTH_HEADERS_RESPONSE_ADD, i, &eh)
            == EZAUTH_OK
            && eh.name.len == len
            && ngx_strncasecmp((u_char *) eh.name.ptr, (u_char *) name, len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
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
        ctx->body_error = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        ctx->state = NGX_HTTP_EZAUTH_DONE;
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    return ngx_http_next_request_body_filter(r, in);
}


/*
 * The library's log sink.  A line about a request comes with the request's
 * connection log (the log userdata given to ezauth_module_begin_request): it
 * is written with the location's error_log and level, and nginx ends it with
 * the client, server, request line and host, as its own lines about the
 * request.  Outcomes are freed by a cleanup of the request's pool, before its
 * connection is closed, so that log outlives every call that can pass it.
 *
 * Other lines (the configuration read, the store check) go to the cycle that
 * loaded the module, the module's userdata: the cycle outlives the module
 * handle (a cleanup of its pool releases it), and cycle->log is the cycle's
 * error_log once the cycle is running (the previous cycle's while the
 * configuration is read).
 *
 * It is called on the event loop and on pool threads (the blocking step of a
 * request, which is blocked meanwhile: nothing else reads or changes it);
 * ngx_log_error() only formats and writes to the log files there, as nginx's
 * own thread code does.
 */

static void
ngx_http_ezauth_log(void *userdata, const ezauth_log_event *event)
{
    ngx_log_t    *log;
    ngx_cycle_t  *cycle = userdata;
    ngx_uint_t    nlevel;

    log = event->request_userdata ? event->request_userdata : cycle->log;

    switch (event->level) {

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

    ngx_log_error(nlevel, log, 0, "ezauth: %*s",
                  event->message.len, event->message.ptr);
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

    if (ngx_http_ezauth_add_metrics_zone(cf, module, emcf->loaded.nelts)
        != NGX_OK)
    {
        return NULL;
    }

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


/*
 * Declares the shared memory zone module number n counts its metrics in.
 * The zone holds a slab pool (its first pages) and the block the library
 * lays out (ezauth_metrics_size() bytes, whole pages).
 */
static ngx_int_t
ngx_http_ezauth_add_metrics_zone(ngx_conf_t *cf, ezauth_module *module,
    ngx_uint_t n)
{
    size_t           size;
    ngx_str_t        name;
    ngx_shm_zone_t  *shm_zone;

    size = ezauth_metrics_size(module);

    name.data = ngx_pnalloc(cf->pool, sizeof("ezauth_metrics__") - 1
                                      + 2 * NGX_INT_T_LEN);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    name.len = ngx_sprintf(name.data, "ezauth_metrics_%ui_%uz", n, size)
               - name.data;

    shm_zone = ngx_shared_memory_add(cf, &name,
                                     8 * ngx_pagesize
                                     + ngx_align(size, ngx_pagesize),
                                     &ngx_http_ezauth_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_ezauth_init_metrics_zone;
    shm_zone->data = module;

    return NGX_OK;
}


/*
 * Attaches a module to its zone, in the master before the workers fork.  A
 * zone kept from the previous cycle (same name: same size) already holds a
 * block, whose counts the library keeps when the providers are the same.
 */
static ngx_int_t
ngx_http_ezauth_init_metrics_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t            size;
    void             *block;
    ezauth_result     rc;
    ezauth_module    *module;
    ngx_slab_pool_t  *shpool;

    module = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    size = ezauth_metrics_size(module);

    if (data != NULL || shm_zone->shm.exists) {
        block = shpool->data;

    } else {
        block = ngx_slab_alloc(shpool, size);
        if (block == NULL) {
            return NGX_ERROR;
        }

        shpool->data = block;
    }

    rc = ezauth_module_use_metrics_memory(module, block, size);

    if (rc != EZAUTH_OK) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "ezauth: metrics zone \"%V\" refused (%s)",
                      &shm_zone->shm.name, ezauth_result_name(rc));
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Checks every token store of this cycle's configurations as the workers'
 * user: the "user" directive's (its default "nobody" when the master is
 * root), or the master's own user when it is not root (nginx then ignores
 * "user" and the workers run as the master).
 */
static char *
ngx_http_ezauth_check_stores(ngx_cycle_t *cycle, void *conf)
{
    ngx_uint_t                    i;
    ezauth_str                    name, msg;
    ezauth_error                 *err;
    ezauth_result                 rc;
    ngx_uid_t                     uid;
    ngx_gid_t                     gid;
    ngx_core_conf_t              *ccf;
    ngx_http_ezauth_loaded_t     *loaded;
    ngx_http_ezauth_main_conf_t  *emcf;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_CONF_OK;
    }

    emcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ezauth_module);

    if (emcf == NULL || emcf->loaded.nelts == 0) {
        return NGX_CONF_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    name.ptr = NULL;
    name.len = 0;

    if (ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        uid = geteuid();
        gid = getegid();

    } else {
        uid = ccf->user;
        gid = ccf->group;

        if (ccf->username) {
            name.ptr = (const uint8_t *) ccf->username;
            name.len = ngx_strlen(ccf->username);
        }
    }

    loaded = emcf->loaded.elts;

    for (i = 0; i < emcf->loaded.nelts; i++) {
        err = NULL;

        rc = ezauth_module_check_store(loaded[i].module, (uint32_t) uid,
                                       (uint32_t) gid, name, &err);

        if (rc != EZAUTH_OK) {
            msg = ezauth_error_message(err);

            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "ezauth_config \"%V\": %*s (%s)", &loaded[i].path,
                          msg.len, msg.ptr, ezauth_result_name(rc));

            ezauth_error_free(err);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
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
    conf->scrub = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_ezauth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ezauth_loc_conf_t *prev = parent;
    ngx_http_ezauth_loc_conf_t *conf = child;

    /*
     * "ezauth_config off" under a level that has a configuration turns the
     * judgement off, not the removal of client-sent identity headers: the
     * parent is merged already, but for the http level, which never is
     */

    conf->scrub = (prev->scrub == 1
                   || (prev->module != NGX_CONF_UNSET_PTR
                       && prev->module != NULL)
                   || (conf->module != NGX_CONF_UNSET_PTR
                       && conf->module != NULL));

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

    /* nginx runs no access handler for subrequests: they are judged here */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ezauth_subrequest_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ezauth_header_filter;

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_ezauth_request_body_filter;

    return NGX_OK;
}
