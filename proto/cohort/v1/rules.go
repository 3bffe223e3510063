// Package v1 holds what of the API's definition the code reads at run time:
// the HTTP/JSON routes (http.yaml), also the source of the generated
// OpenAPI description.
package v1

import _ "embed"

// HTTPRules is http.yaml: a google.api.Service configuration whose http
// section maps the public methods to REST routes.
//
//go:embed http.yaml
var HTTPRules []byte
