package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"go.yaml.in/yaml/v3"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/cohort-dev/cohort/proto/cohort/v1"
)

// The HTTP/JSON API (docs/design.md §8.6) is the public gRPC API
// transcoded, not a second implementation: every request goes through the
// same server, interceptors, authentication, limits and handlers as a gRPC
// call. REST routes come from proto/cohort/v1/http.yaml; every public
// method is also reachable with the Connect protocol (POST
// /cohort.v1.<Service>/<Method>, JSON or binary) and gRPC-Web.

// httpServices are the services the HTTP API exposes. AdminService is
// limited to httpAdminMethods.
var httpServices = []string{
	"cohort.v1.ContributorService",
	"cohort.v1.BuyerService",
	"cohort.v1.AuditService",
	"cohort.v1.AdminService",
}

// httpAdminMethods are the only AdminService methods reachable over HTTP:
// reading the node's status. Creating datasets, buyers and invites stays on
// gRPC, where the CLI drives it.
var httpAdminMethods = map[string]bool{"NodeStatus": true}

// HTTPRules returns the REST routes of http.yaml.
func HTTPRules() ([]*annotations.HttpRule, error) {
	var cfg struct {
		HTTP any `yaml:"http"`
	}
	if err := yaml.Unmarshal(apiv1.HTTPRules, &cfg); err != nil {
		return nil, fmt.Errorf("http rules: %w", err)
	}
	raw, err := json.Marshal(cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("http rules: %w", err)
	}
	var h annotations.Http
	if err := protojson.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("http rules: %w", err)
	}
	for _, r := range h.GetRules() {
		svc, method, ok := splitSelector(r.GetSelector())
		if !ok || !isHTTPMethod(svc, method) {
			return nil, fmt.Errorf("http rules: %q is not a method the HTTP API exposes", r.GetSelector())
		}
	}
	return h.GetRules(), nil
}

func splitSelector(sel string) (svc, method string, ok bool) {
	i := strings.LastIndexByte(sel, '.')
	if i < 0 {
		return "", "", false
	}
	return sel[:i], sel[i+1:], true
}

func isHTTPMethod(svc, method string) bool {
	for _, s := range httpServices {
		if s == svc {
			return svc != "cohort.v1.AdminService" || httpAdminMethods[method]
		}
	}
	return false
}

// HTTPHandler serves the HTTP/JSON API by transcoding into the node's
// public gRPC server. cohort node serves it on http_listen with the API's
// TLS configuration.
func (n *Node) HTTPHandler() (http.Handler, error) {
	rules, err := HTTPRules()
	if err != nil {
		return nil, err
	}
	info := n.api.GetServiceInfo()
	var services []*vanguard.Service
	for _, name := range httpServices {
		if _, ok := info[name]; !ok {
			return nil, fmt.Errorf("http api: service %s is not registered", name)
		}
		services = append(services, vanguard.NewService(name, n.api))
	}
	limit := uint32(n.opts.Limits.MaxMessageBytes)
	t, err := vanguard.NewTranscoder(services,
		vanguard.WithRules(rules...),
		vanguard.WithCodec(func(res vanguard.TypeResolver) vanguard.Codec {
			return strictJSON{vanguard.NewJSONCodec(res)}
		}),
		vanguard.WithDefaultServiceOptions(
			vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
			vanguard.WithTargetCodecs(vanguard.CodecProto),
			vanguard.WithMaxMessageBufferBytes(limit),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("http api: %w", err)
	}
	return adminGuard(t), nil
}

// strictJSON is vanguard's JSON codec with a request body that does not
// parse answered InvalidArgument (400) instead of Unknown (500): a client's
// malformed JSON is the client's error.
type strictJSON struct{ *vanguard.JSONCodec }

func (c strictJSON) Unmarshal(b []byte, m proto.Message) error {
	if err := c.JSONCodec.Unmarshal(b, m); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return nil
}

// adminGuard answers 404 for the AdminService methods the HTTP API does not
// expose, reached by their Connect or gRPC-Web paths; REST routes exist
// only for the exposed ones.
func adminGuard(next http.Handler) http.Handler {
	const prefix = "/cohort.v1.AdminService/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m, ok := strings.CutPrefix(r.URL.Path, prefix); ok && !httpAdminMethods[m] {
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
