// Package webapp is the local web app of "cohort app" (docs/design.md §8.5):
// an HTTP server on a loopback address that serves a small single-page app
// (HTML, CSS and JavaScript modules embedded in the binary; nothing is
// fetched from elsewhere) and a JSON API under /api/ backed by the Go
// client. Contributors, buyers and auditors use it from a browser on the
// same machine.
//
// The contributor's identity secret and the buyer's token stay in this
// process: the browser sees identity commitments, receipts and results,
// never the secret or the token. Because any web page the user visits can
// make the browser send requests to a loopback port, the server
//
//   - answers only requests whose Host header names the loopback address it
//     listens on (a DNS-rebinding page has its own host name there);
//   - requires, on every request that changes state (every POST), a
//     per-process random token in the X-Cohort-CSRF header, which the page
//     reads from its own HTML and which another origin cannot read; a POST
//     whose Origin header is not the app's is refused too;
//   - serves a strict Content-Security-Policy (scripts and styles from the
//     app only, no inline script, no framing) and no CORS headers, so that
//     no other origin can read a response.
//
// Errors are JSON objects {"error": {"message", "code"}} whose code is the
// gRPC code name of the failure ("InvalidArgument", "NotFound", …), with
// the matching HTTP status.
package webapp
