package webapp

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

const (
	testAddr  = "127.0.0.1:7480"
	testToken = "cohort-buyer-do-not-leak-0123456789abcdef"
)

// newTestServer returns an app whose clients point at a closed port: the
// handlers under test never reach a node.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	c, err := client.Dial("127.0.0.1:1", client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	b, err := client.DialBuyer("127.0.0.1:1", testToken, client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s, err := New(Config{Addr: testAddr, Node: "127.0.0.1:1", Client: c, Buyer: b, IdentityPath: filepath.Join(t.TempDir(), "id.json")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type reqOpt func(*http.Request)

func withHost(h string) reqOpt            { return func(r *http.Request) { r.Host = h } }
func withHeader(k, v string) reqOpt       { return func(r *http.Request) { r.Header.Set(k, v) } }
func withCSRF(s *Server) reqOpt           { return withHeader(CSRFHeader, s.CSRFToken()) }
func withContentType(ct string) reqOpt    { return withHeader("Content-Type", ct) }
func jsonBody(t *testing.T, v any) []byte { t.Helper(); b, _ := json.Marshal(v); return b }

func do(s *Server, method, path string, body []byte, opts ...reqOpt) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.Host = testAddr
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// apiErr decodes an error response and checks its status and code.
func apiErr(t *testing.T, w *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, w.Body)
	}
	if b.Error.Code != code || b.Error.Message == "" {
		t.Fatalf("error %+v, want code %s and a message", b.Error, code)
	}
	return b.Error.Message
}

func TestCheckListenAddress(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:0", "127.0.0.1:7480", "[::1]:7480", "localhost:1", "127.1.2.3:80"} {
		if err := CheckListenAddress(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:7480", ":7480", "192.168.1.10:7480", "[::]:7480", "example.com:80", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000"} {
		if err := CheckListenAddress(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestHostRefused: a request whose Host is not the app's loopback address
// (a DNS-rebinding page) is refused before any handler runs.
func TestHostRefused(t *testing.T) {
	s := newTestServer(t)
	for _, host := range []string{"evil.example:7480", "evil.example", "127.0.0.1:9999", "", "10.0.0.1:7480"} {
		w := do(s, "GET", "/api/session", nil, withHost(host))
		apiErr(t, w, http.StatusMisdirectedRequest, "PermissionDenied")
		if strings.Contains(w.Body.String(), "identity_path") {
			t.Fatalf("host %q: got the session", host)
		}
		w = do(s, "GET", "/", nil, withHost(host))
		if w.Code != http.StatusMisdirectedRequest || strings.Contains(w.Body.String(), s.CSRFToken()) {
			t.Fatalf("host %q: index served (%d)", host, w.Code)
		}
	}
	for _, host := range []string{"127.0.0.1:7480", "localhost:7480", "[::1]:7480", "LOCALHOST:7480"} {
		if w := do(s, "GET", "/api/session", nil, withHost(host)); w.Code != http.StatusOK {
			t.Fatalf("host %q: %d %s", host, w.Code, w.Body)
		}
	}
}

// TestCSRFRefused: a POST without the token, with a wrong one, or from
// another origin is refused, and nothing is written.
func TestCSRFRefused(t *testing.T) {
	s := newTestServer(t)
	path := filepath.Join(t.TempDir(), "new-id.json")
	body := jsonBody(t, pathRequest{Path: path})
	for name, opts := range map[string][]reqOpt{
		"no token":        nil,
		"wrong token":     {withHeader(CSRFHeader, strings.Repeat("0", 64))},
		"token prefix":    {withHeader(CSRFHeader, s.CSRFToken()[:10])},
		"other origin":    {withCSRF(s), withHeader("Origin", "http://evil.example")},
		"other port":      {withCSRF(s), withHeader("Origin", "http://127.0.0.1:9999")},
		"https origin":    {withCSRF(s), withHeader("Origin", "https://127.0.0.1:7480")},
		"token, no match": {withHeader(CSRFHeader, s.CSRFToken()+"x")},
	} {
		w := do(s, "POST", "/api/identity/create", body, opts...)
		apiErr(t, w, http.StatusForbidden, "PermissionDenied")
		if _, err := os.Stat(path); err == nil {
			t.Fatalf("%s: identity written despite the refusal", name)
		}
	}
	// Every POST endpoint is guarded, not only this one.
	for _, p := range []string{"/api/contributor/register", "/api/contributor/contribute", "/api/contributor/revoke", "/api/contributor/rewards/claim", "/api/buyer/jobs", "/api/audit/verify", "/api/audit/fetch", "/api/identity/open"} {
		apiErr(t, do(s, "POST", p, []byte("{}")), http.StatusForbidden, "PermissionDenied")
	}
	// Other methods are refused outright; no CORS preflight is answered.
	w := do(s, "OPTIONS", "/api/identity/create", nil, withHeader("Origin", "http://evil.example"), withHeader("Access-Control-Request-Method", "POST"))
	apiErr(t, w, http.StatusMethodNotAllowed, "Unimplemented")
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header on a preflight")
	}
	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		apiErr(t, do(s, m, "/api/identity/create", body, withCSRF(s)), http.StatusMethodNotAllowed, "Unimplemented")
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("identity written by a refused method")
	}
	// With the token (and the app's own origin) it goes through.
	w = do(s, "POST", "/api/identity/create", body, withCSRF(s), withHeader("Origin", "http://127.0.0.1:7480"), withContentType("application/json"))
	if w.Code != http.StatusOK {
		t.Fatalf("create with token: %d %s", w.Code, w.Body)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// TestSecretNeverSent: the identity secret and the buyer token appear in
// no response: not the page, the session, the identity answers or errors.
func TestSecretNeverSent(t *testing.T) {
	s := newTestServer(t)
	path := filepath.Join(t.TempDir(), "id.json")
	var bodies []string
	post := func(p string, v any) *httptest.ResponseRecorder {
		w := do(s, "POST", p, jsonBody(t, v), withCSRF(s))
		bodies = append(bodies, w.Body.String())
		return w
	}
	get := func(p string) *httptest.ResponseRecorder {
		w := do(s, "GET", p, nil)
		bodies = append(bodies, w.Body.String())
		return w
	}
	if w := post("/api/identity/create", pathRequest{Path: path}); w.Code != http.StatusOK {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(raw, &file); err != nil || len(file.Secret) != 64 {
		t.Fatalf("identity file: %v %q", err, raw)
	}
	id, err := client.LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	post("/api/identity/open", pathRequest{Path: path})
	apiErr(t, post("/api/identity/create", pathRequest{Path: path}), http.StatusConflict, "AlreadyExists")
	if after, _ := os.ReadFile(path); !bytes.Equal(after, raw) {
		t.Fatal("create over an existing identity changed the file")
	}
	get("/api/session")
	get("/")
	// These reach for the (absent) node: their errors must not carry the
	// token either.
	get("/api/datasets")
	get("/api/buyer/jobs")
	post("/api/contributor/register", map[string]string{"invite": "x"})
	sec := id.Secret.Bytes()
	secDec := id.Secret.String()
	for i, b := range bodies {
		for _, leak := range []string{file.Secret, strings.ToUpper(file.Secret), secDec, testToken} {
			if strings.Contains(b, leak) {
				t.Fatalf("response %d carries a secret (%q…): %s", i, leak[:8], b)
			}
		}
		if bytes.Contains([]byte(b), sec[:]) {
			t.Fatalf("response %d carries the raw secret", i)
		}
	}
	var sess sessionJSON
	if err := json.Unmarshal([]byte(bodies[3]), &sess); err != nil || sess.Identity == nil || sess.Identity.Path != path || !sess.Buyer {
		t.Fatalf("session: %v %+v", err, sess)
	}
	ic := id.Commitment()
	if sess.Identity.Commitment == "" || !strings.Contains(bodies[3], sess.Identity.Commitment) || sess.Identity.Commitment[:8] == file.Secret[:8] {
		t.Fatalf("session commitment %q (commitment %x)", sess.Identity.Commitment, ic[:4])
	}
}

// TestSecurityHeaders: every response, page or API, carries the strict
// policy and no CORS grant; the page carries the CSRF token and no inline
// script.
func TestSecurityHeaders(t *testing.T) {
	s := newTestServer(t)
	for _, p := range []string{"/", "/api/session", "/static/app.js", "/api/nope", "/static/"} {
		w := do(s, "GET", p, nil, withHeader("Origin", "http://evil.example"))
		h := w.Header()
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
	w := do(s, "GET", "/", nil)
	page := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(page, `content="`+s.CSRFToken()+`"`) {
		t.Fatalf("index: %d, token missing", w.Code)
	}
	if strings.Count(page, "<script") != 1 || !strings.Contains(page, `<script type="module" src="/static/app.js"></script>`) {
		t.Fatalf("index has inline or foreign script:\n%s", page)
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Fatal("index refers to another site")
	}
	if w := do(s, "GET", "/static/app.js", nil); w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("app.js: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	for _, p := range []string{"/static/", "/static/index.html", "/static/pages/", "/static/../server.go"} {
		if w := do(s, "GET", p, nil); w.Code != http.StatusNotFound && w.Code/100 != 3 {
			t.Errorf("%s: %d, want refused", p, w.Code)
		} else if strings.Contains(w.Body.String(), "app.js") {
			t.Errorf("%s: directory listing", p)
		}
	}
	apiErr(t, do(s, "GET", "/api/nope", nil), http.StatusNotFound, "NotFound")
}

// TestAssetsSelfContained: no asset loads anything from another origin.
func TestAssetsSelfContained(t *testing.T) {
	files := []string{"assets/index.html", "assets/app.js", "assets/app.css", "assets/api.js", "assets/dom.js", "assets/ui.js", "assets/charts.js",
		"assets/pages/home.js", "assets/pages/contributor.js", "assets/pages/buyer.js", "assets/pages/auditor.js"}
	for _, f := range files {
		b, err := assets.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("http://www.w3.org/2000/svg"), nil) // the SVG namespace, a name only
		for _, bad := range []string{"https://", "http://", "innerHTML", "eval(", "new Function", "@import"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s contains %q", f, bad)
			}
		}
	}
}

// TestIdentityRefusals: relative paths, missing files and malformed bodies
// are refused with clear errors.
func TestIdentityRefusals(t *testing.T) {
	s := newTestServer(t)
	post := func(p string, body []byte) *httptest.ResponseRecorder { return do(s, "POST", p, body, withCSRF(s)) }
	apiErr(t, post("/api/identity/create", jsonBody(t, pathRequest{Path: "relative/id.json"})), http.StatusBadRequest, "InvalidArgument")
	if _, err := os.Stat("relative"); err == nil {
		t.Fatal("relative identity written")
	}
	apiErr(t, post("/api/identity/open", jsonBody(t, pathRequest{Path: filepath.Join(t.TempDir(), "none.json")})), http.StatusNotFound, "NotFound")
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"version":1,"secret":"00"}`), 0o600)
	apiErr(t, post("/api/identity/open", jsonBody(t, pathRequest{Path: bad})), http.StatusBadRequest, "InvalidArgument")
	apiErr(t, post("/api/identity/create", []byte(`{"path":"/x","extra":1}`)), http.StatusBadRequest, "InvalidArgument")
	apiErr(t, post("/api/identity/create", []byte(`{"path":"/x"} {}`)), http.StatusBadRequest, "InvalidArgument")
	// Without an identity, contributor actions say so.
	apiErr(t, post("/api/contributor/register", []byte(`{"invite":"abc"}`)), http.StatusConflict, "FailedPrecondition")
	apiErr(t, post("/api/contributor/contribute", []byte(`{"dataset":"d"}`)), http.StatusConflict, "FailedPrecondition")
	apiErr(t, do(s, "GET", "/api/contributor/receipt?dataset=d", nil), http.StatusConflict, "FailedPrecondition")
	apiErr(t, do(s, "GET", "/api/tasks/nope", nil), http.StatusNotFound, "NotFound")
}

// TestRewardRefusals: rewards need an open, registered identity and a
// job; a refused claim starts no task and writes no payout key or claim
// book.
func TestRewardRefusals(t *testing.T) {
	s := newTestServer(t)
	post := func(p string, body []byte) *httptest.ResponseRecorder { return do(s, "POST", p, body, withCSRF(s)) }
	apiErr(t, do(s, "GET", "/api/contributor/rewards?dataset=d", nil), http.StatusConflict, "FailedPrecondition")
	apiErr(t, post("/api/contributor/rewards/claim", []byte(`{"job":"job-1"}`)), http.StatusConflict, "FailedPrecondition")
	apiErr(t, post("/api/contributor/rewards/claim", []byte(`{}`)), http.StatusBadRequest, "InvalidArgument")
	apiErr(t, post("/api/contributor/rewards/claim", []byte(`{"job":"job-1","payout_key":"x"}`)), http.StatusBadRequest, "InvalidArgument")
	path := filepath.Join(t.TempDir(), "id.json")
	if w := post("/api/identity/create", jsonBody(t, pathRequest{Path: path})); w.Code != http.StatusOK {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	apiErr(t, post("/api/contributor/rewards/claim", []byte(`{"job":"job-1"}`)), http.StatusConflict, "FailedPrecondition")
	for _, p := range []string{client.PayoutsDir(path), client.ClaimBookPath(path)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s written by a refused claim", p)
		}
	}
	if len(s.tasks.order) != 0 {
		t.Errorf("a refused claim started %d tasks", len(s.tasks.order))
	}
}

// TestUnreachableNode: a node that cannot be reached is an Unavailable
// error with its gRPC code, not a hang or a 500.
func TestUnreachableNode(t *testing.T) {
	s := newTestServer(t)
	apiErr(t, do(s, "GET", "/api/datasets/some-dataset", nil), http.StatusServiceUnavailable, "Unavailable")
	apiErr(t, do(s, "GET", "/api/datasets/Bad_ID", nil), http.StatusBadRequest, "InvalidArgument")
}

func TestRecordJSON(t *testing.T) {
	sc, err := schema.Parse([]byte("id: t\nfields:\n  - {name: age, type: int, min: 18, max: 100}\n  - {name: smoker, type: bool}\n  - {name: region, type: category, values: [north, south]}\npurposes: [research]\nepoch: weekly\nmin_cohort: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	good, err := recordJSON(sc, map[string]string{"age": "40", "smoker": "false", "region": "north"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.ParseRecordJSON(good); err != nil {
		t.Fatalf("%s: %v", good, err)
	}
	for name, vals := range map[string]map[string]string{
		"missing":        {"age": "40", "smoker": "false"},
		"not a number":   {"age": "40}, \"x\": {", "smoker": "false", "region": "north"},
		"exponent":       {"age": "4e1", "smoker": "false", "region": "north"},
		"bool":           {"age": "40", "smoker": "maybe", "region": "north"},
		"unknown field":  {"age": "40", "smoker": "false", "region": "north", "weight": "3"},
		"injected quote": {"age": "40", "smoker": "false", "region": `north","age":"1`},
	} {
		b, err := recordJSON(sc, vals)
		if err == nil {
			if _, err = sc.ParseRecordJSON(b); err == nil {
				t.Errorf("%s: accepted as %s", name, b)
			}
		}
	}
	if _, err := recordJSON(sc, map[string]string{"age": "400", "smoker": "true", "region": "south"}); err != nil {
		t.Fatal(err) // out of range is the schema's to refuse
	} else if b, _ := recordJSON(sc, map[string]string{"age": "400", "smoker": "true", "region": "south"}); func() bool { _, err := sc.ParseRecordJSON(b); return err == nil }() {
		t.Fatal("age 400 accepted by the schema")
	}
}

// TestJobForm: the job builder's form becomes a spec the command line
// would accept, with each kind of output; bad forms are refused.
func TestJobForm(t *testing.T) {
	epoch := json.RawMessage("2950")
	req := jobRequest{Dataset: "fit", Purpose: "research", Epoch: epoch, Rho: "1/8", Outputs: []outputRequest{
		{Kind: "count"}, {Kind: "mean", Field: "age"}, {Kind: "histogram", Field: "region"},
		{Kind: "correlation", Fields: []string{"age", "steps"}},
		{Kind: "linear_regression", Target: "age", Features: []string{"steps"}},
	}}
	doc, err := req.specDocument()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := client.ParseJobSpec(doc, nil)
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	if spec.GetDatasetId() != "fit" || spec.GetEpochFrom() != 2950 || len(spec.GetOutputs()) != 5 || spec.GetPrivacy().GetRho() != "1/8" {
		t.Fatalf("spec %v", spec)
	}
	if k := spec.GetOutputs()[4].GetKind(); k != cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION {
		t.Fatalf("output 4: %v", k)
	}
	for name, r := range map[string]jobRequest{
		"no outputs":  {Dataset: "fit", Purpose: "research"},
		"unknown":     {Dataset: "fit", Purpose: "research", Outputs: []outputRequest{{Kind: "median"}}},
		"bad epoch":   {Dataset: "fit", Purpose: "research", Epoch: json.RawMessage(`"last"`), Outputs: []outputRequest{{Kind: "count"}}},
		"neg epoch":   {Dataset: "fit", Purpose: "research", Epoch: json.RawMessage(`-1`), Outputs: []outputRequest{{Kind: "count"}}},
		"too many":    {Dataset: "fit", Purpose: "research", Outputs: make([]outputRequest, maxOutputs+1)},
		"empty field": {Dataset: "fit", Purpose: "research", Epoch: epoch, Outputs: []outputRequest{{Kind: "mean"}}},
	} {
		doc, err := r.specDocument()
		if err == nil {
			_, err = client.ParseJobSpec(doc, nil)
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Without a buyer token the buyer endpoints say what to do.
	c, _ := client.Dial("127.0.0.1:1", client.WithInsecure())
	defer c.Close()
	s, err := New(Config{Addr: testAddr, Client: c})
	if err != nil {
		t.Fatal(err)
	}
	msg := apiErr(t, do(s, "POST", "/api/buyer/jobs", jsonBody(t, req), withCSRF(s)), http.StatusConflict, "FailedPrecondition")
	if !strings.Contains(msg, "--token-file") {
		t.Fatalf("message %q", msg)
	}
}

// TestAuditMeanings: every check either backend runs has a meaning.
func TestAuditMeanings(t *testing.T) {
	for _, b := range []cohortv1.Backend{cohortv1.Backend_BACKEND_MPC, cohortv1.Backend_BACKEND_HE} {
		for _, n := range audit.CheckNames(b) {
			if checkMeanings[n] == "" {
				t.Errorf("%v: check %q has no meaning", b, n)
			}
		}
	}
}

// TestAuditVerifyGarbage: a bundle that is not one gets a failing report
// from the real audit, not an error page.
func TestAuditVerifyGarbage(t *testing.T) {
	s := newTestServer(t)
	w := do(s, "POST", "/api/audit/verify", []byte("not a bundle"), withCSRF(s), withContentType("application/octet-stream"))
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var rep reportJSON
	if err := json.NewDecoder(io.LimitReader(w.Body, 1<<20)).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Checks) == 0 || rep.Checks[0].Name != audit.CheckTranscript || rep.Checks[0].Status != audit.Fail || rep.Checks[0].Meaning == "" {
		t.Fatalf("report %+v", rep)
	}
	apiErr(t, do(s, "POST", "/api/audit/verify", nil, withCSRF(s)), http.StatusBadRequest, "InvalidArgument")
	apiErr(t, do(s, "POST", "/api/audit/fetch", []byte(`{}`), withCSRF(s)), http.StatusBadRequest, "InvalidArgument")
}
