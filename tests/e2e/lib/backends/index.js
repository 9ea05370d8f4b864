// Real applications behind the hosts, for the security scenarios (security-*.test.js).
//
//   node      lib/backends/node-app.js: node:http, routes on new URL(req.url, 'http://x').pathname
//   werkzeug  lib/backends/werkzeug_app.py: a WSGI app, werkzeug.routing.Map, Werkzeug's server
//
// Both route /health and /public/* to an "excluded" handler and everything else (/admin/...) to a
// "protected" one that trusts the identity headers, and record every request they get:
//   {seq, backend, handler: 'excluded'|'protected'|(werkzeug) 'redirect'|'notfound', method,
//    target (the raw request-target), route (the path the router matched), caseId (X-Sec-Case),
//    raw: [[name, value], ...] (the header block as parsed; latin1: one char per byte),
//    wire: the request line and header block exactly as they arrived (latin1),
//    identity: {principal: {value, decoded}, id, name, idp, tokens} (what the app reads, with
//              the base64 decoder an app of that stack uses)}
// and every request the server could not parse: errors() -> [{backend, ...}].
//
// start() -> {name, port, entries(), errors(), close()}.
// EZAUTH_E2E_BACKENDS=node,werkzeug (default both) chooses them.
import * as nodeApp from './node-app.js';
import * as werkzeug from './werkzeug.js';

const ALL = { node: nodeApp, werkzeug };

export function backendNames() {
  const env = process.env.EZAUTH_E2E_BACKENDS;
  const names = env && env.trim() ? env.split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(ALL);
  for (const n of names) if (!ALL[n]) throw new Error(`EZAUTH_E2E_BACKENDS: unknown backend ${n}`);
  return names;
}

export function backendsUnderTest() {
  return backendNames().map((n) => ALL[n]);
}
