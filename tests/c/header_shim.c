/*
 * header_shim: an LD_PRELOAD library for the host tests. It makes the ezauth library seem to
 * hand a host one more header in one of an outcome's lists, so that the tests can prove what
 * the hosts do with a header no correct library would produce: they must never write it.
 *
 *     EZAUTH_TEST_EXTRA_HEADER=SET:KIND LD_PRELOAD=.../libezauth_header_shim.so ezauth-host ...
 *
 * SET is a list number (ezauth_header_set: 1 request set, 2 response, 3 response add); KIND
 * names the header:
 *
 *     good    X-Shim-Test: ok                    (a valid one: proves the shim is in effect)
 *     crlf    X-Shim-Test: a<CR><LF>X-Injected: yes
 *     lf      X-Shim-Test: a<LF>X-Injected: yes
 *     nul     X-Shim-Test: a<NUL>b
 *     ctl     X-Shim-Test: a<0x01>b
 *     del     X-Shim-Test: a<0x7f>b
 *     space   "X-Shim Test": ok                  (a name that is not a token)
 *     colon   "X-Shim:Test": ok
 *     empty   "": ok
 *
 * EZAUTH_TEST_EXTRA_HEADER=@FILE reads SET:KIND from FILE at every call instead, so that a
 * test can change it while the host runs (an empty or missing file: no extra header).
 *
 * Without the variable, or for other lists, the library's answers pass unchanged. Both
 * functions are found with dlsym(RTLD_NEXT), so the shim needs no link to libezauth.
 */

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ezauth.h"


typedef size_t (*eh_count_pt)(const ezauth_outcome *outcome, uint32_t set);
typedef ezauth_result (*eh_header_pt)(const ezauth_outcome *outcome, uint32_t set,
    size_t index, ezauth_header *header_out);


typedef struct {
    const char  *kind;
    const char  *name;
    size_t       name_len;
    const char  *value;
    size_t       value_len;
} shim_header_t;


#define shim_header(kind, name, value) \
    { kind, name, sizeof(name) - 1, value, sizeof(value) - 1 }

static const shim_header_t  shim_headers[] = {
    shim_header("good", "X-Shim-Test", "ok"),
    shim_header("crlf", "X-Shim-Test", "a\r\nX-Injected: yes"),
    shim_header("lf", "X-Shim-Test", "a\nX-Injected: yes"),
    shim_header("nul", "X-Shim-Test", "a\0b"),
    shim_header("ctl", "X-Shim-Test", "a\001b"),
    shim_header("del", "X-Shim-Test", "a\177b"),
    shim_header("space", "X-Shim Test", "ok"),
    shim_header("colon", "X-Shim:Test", "ok"),
    shim_header("empty", "", "ok"),
};


/* The header to add to list set, or NULL. */
static const shim_header_t *
shim_extra(ezauth_header_set set)
{
    char        *end, buf[64];
    FILE        *f;
    size_t       i, n;
    const char  *spec;

    spec = getenv("EZAUTH_TEST_EXTRA_HEADER");
    if (spec == NULL) {
        return NULL;
    }

    if (spec[0] == '@') {
        f = fopen(spec + 1, "r");
        if (f == NULL) {
            return NULL;
        }

        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);

        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
            n--;
        }

        buf[n] = '\0';
        spec = buf;
    }

    if (strtoul(spec, &end, 10) != set || *end != ':') {
        return NULL;
    }

    for (i = 0; i < sizeof(shim_headers) / sizeof(shim_headers[0]); i++) {
        if (strcmp(end + 1, shim_headers[i].kind) == 0) {
            return &shim_headers[i];
        }
    }

    return NULL;
}


size_t
ezauth_outcome_header_count(const ezauth_outcome *outcome, ezauth_header_set set)
{
    eh_count_pt  real;

    *(void **) &real = dlsym(RTLD_NEXT, "ezauth_outcome_header_count");

    return real(outcome, set) + (outcome != NULL && shim_extra(set) != NULL);
}


ezauth_result
ezauth_outcome_header(const ezauth_outcome *outcome, ezauth_header_set set, size_t index,
    ezauth_header *header_out)
{
    eh_count_pt           count;
    eh_header_pt          real;
    const shim_header_t  *h;

    *(void **) &count = dlsym(RTLD_NEXT, "ezauth_outcome_header_count");
    *(void **) &real = dlsym(RTLD_NEXT, "ezauth_outcome_header");

    h = shim_extra(set);

    if (h == NULL || outcome == NULL || header_out == NULL || index != count(outcome, set)) {
        return real(outcome, set, index, header_out);
    }

    header_out->name.ptr = (const uint8_t *) h->name;
    header_out->name.len = h->name_len;
    header_out->value.ptr = (const uint8_t *) h->value;
    header_out->value.len = h->value_len;

    return EZAUTH_OK;
}
