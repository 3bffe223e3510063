package webapp

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/federation"
)

//go:embed assets
var assets embed.FS

// CSRFHeader is the request header that must carry the app's CSRF token on
// every POST.
const CSRFHeader = "X-Cohort-CSRF"

// contentSecurityPolicy allows the app's own scripts, styles and API only:
// no inline script or style attribute, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// Config is what the app serves and acts with.
type Config struct {
	// Addr is the loopback address the app listens on (host:port, the
	// port resolved): only requests whose Host names it are answered.
	Addr string
	// Node is the address of the node the clients are connected to.
	Node string
	// Client is connected to Node, pinned to Federation when it is set.
	// Required.
	Client *client.Client
	// Buyer is connected to Node with the buyer's token; nil without one.
	Buyer *client.Buyer
	// Federation is the pinned federation descriptor (--federation); nil
	// when none was given.
	Federation *federation.Descriptor
	// IdentityPath is the identity file the contributor page opens by
	// default; "" for none.
	IdentityPath string
	// CacheDir keeps proving keys between contributions; "" for none.
	CacheDir string
}

// Server is the app's HTTP handler. It is safe for concurrent use.
type Server struct {
	cfg     Config
	hosts   map[string]bool
	csrf    string
	index   []byte
	mux     *http.ServeMux
	tasks   *tasks
	claimMu sync.Mutex // held by a claim task: one claim at a time
	idMu    sync.Mutex // guards idPath and id
	idPath  string
	id      *client.Identity
	staticH http.Handler
}

// New checks cfg and returns the app's handler, with a fresh random CSRF
// token.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("webapp: no client")
	}
	hosts, err := loopbackHosts(cfg.Addr)
	if err != nil {
		return nil, err
	}
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("webapp: CSRF token: %w", err)
	}
	s := &Server{cfg: cfg, hosts: hosts, csrf: hex.EncodeToString(tok[:]), tasks: newTasks(), idPath: cfg.IdentityPath}
	if s.index, err = renderIndex(s.csrf); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("webapp: %w", err)
	}
	s.staticH = http.FileServer(http.FS(sub))
	s.routes()
	return s, nil
}

// CheckListenAddress refuses an address that is not a loopback IP with a
// port: the app acts with the user's identity and token, and answers
// whoever can reach it.
func CheckListenAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("webapp: listen address %q: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("webapp: listen address %q: bad port", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("webapp: listen address %q is not a loopback address (127.0.0.1, ::1 or localhost): the app acts with your identity and token and must not be reachable from other machines", addr)
	}
	return nil
}

// loopbackHosts returns the Host header values the app answers: the
// loopback names with the listening port.
func loopbackHosts(addr string) (map[string]bool, error) {
	if err := CheckListenAddress(addr); err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	if port == "0" {
		return nil, fmt.Errorf("webapp: listen address %q: give the port the listener got", addr)
	}
	return map[string]bool{
		net.JoinHostPort("127.0.0.1", port): true,
		net.JoinHostPort("::1", port):       true,
		net.JoinHostPort("localhost", port): true,
	}, nil
}

// CSRFToken returns the per-process token a POST must carry in CSRFHeader.
func (s *Server) CSRFToken() string { return s.csrf }

var indexTemplate = template.Must(template.ParseFS(assets, "assets/index.html"))

func renderIndex(csrf string) ([]byte, error) {
	var b bytes.Buffer
	if err := indexTemplate.Execute(&b, struct{ CSRF string }{csrf}); err != nil {
		return nil, fmt.Errorf("webapp: index: %w", err)
	}
	return b.Bytes(), nil
}

// ServeHTTP checks the Host header, sets the security headers, requires
// the CSRF token on POST, and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if !s.hosts[strings.ToLower(r.Host)] {
		writeError(w, errorf(http.StatusMisdirectedRequest, "PermissionDenied", "this app answers only requests addressed to %s", s.cfg.Addr))
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if err := s.checkPost(r); err != nil {
			writeError(w, err)
			return
		}
	default:
		h.Set("Allow", "GET, HEAD, POST")
		writeError(w, errorf(http.StatusMethodNotAllowed, "Unimplemented", "method %s is not allowed", r.Method))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// checkPost refuses a POST without the CSRF token or from another origin.
func (s *Server) checkPost(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		ok := false
		for host := range s.hosts {
			ok = ok || o == "http://"+host
		}
		if !ok {
			return errorf(http.StatusForbidden, "PermissionDenied", "a request from %s is refused: only this app's own pages may change anything", o)
		}
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		return errorf(http.StatusForbidden, "PermissionDenied", "missing or wrong %s header: reload the page", CSRFHeader)
	}
	return nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.serveIndex)
	m.HandleFunc("GET /static/", s.serveStatic)

	m.HandleFunc("GET /api/session", s.handleSession)
	m.HandleFunc("GET /api/datasets", s.handleDatasets)
	m.HandleFunc("GET /api/datasets/{id}", s.handleDataset)
	m.HandleFunc("GET /api/tasks/{id}", s.handleTask)

	m.HandleFunc("POST /api/identity/create", s.handleIdentityCreate)
	m.HandleFunc("POST /api/identity/open", s.handleIdentityOpen)
	m.HandleFunc("POST /api/contributor/register", s.handleRegister)
	m.HandleFunc("POST /api/contributor/contribute", s.handleContribute)
	m.HandleFunc("GET /api/contributor/receipt", s.handleReceipt)
	m.HandleFunc("GET /api/contributor/jobs", s.handleMyJobs)
	m.HandleFunc("POST /api/contributor/revoke", s.handleRevoke)
	m.HandleFunc("GET /api/contributor/rewards", s.handleRewards)
	m.HandleFunc("POST /api/contributor/rewards/claim", s.handleClaim)

	m.HandleFunc("POST /api/buyer/jobs", s.handleSubmit)
	m.HandleFunc("GET /api/buyer/jobs", s.handleJobs)
	m.HandleFunc("GET /api/buyer/jobs/{id}", s.handleJob)
	m.HandleFunc("GET /api/buyer/jobs/{id}/result", s.handleResult)
	m.HandleFunc("GET /api/buyer/budget", s.handleBudget)

	m.HandleFunc("POST /api/audit/verify", s.handleAuditVerify)
	m.HandleFunc("POST /api/audit/fetch", s.handleAuditFetch)
	m.HandleFunc("GET /api/audit/checks", s.handleAuditChecks)

	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "NotFound", "no API endpoint %s %s", r.Method, r.URL.Path))
	})
	s.mux = m
}

// serveStatic serves the embedded scripts and style sheets, nothing else
// (no directory listing, not the index template).
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	if !(strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".css")) || strings.Contains(name, "..") {
		writeError(w, errorf(http.StatusNotFound, "NotFound", "no file %s", r.URL.Path))
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.StripPrefix("/static/", s.staticH).ServeHTTP(w, r)
}

func (s *Server) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(s.index)
}
