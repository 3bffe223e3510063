package webapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/client"
)

// apiError is an error with its HTTP status and gRPC code name, as the
// API returns it.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func errorf(httpStatus int, code, format string, args ...any) *apiError {
	return &apiError{status: httpStatus, code: code, message: fmt.Sprintf(format, args...)}
}

// badRequest is an InvalidArgument error about the request itself.
func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, codes.InvalidArgument.String(), format, args...)
}

// httpStatusOf maps a gRPC code to the HTTP status the API answers with.
var httpStatusOf = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.OutOfRange:         http.StatusBadRequest,
	codes.FailedPrecondition: http.StatusConflict,
	codes.AlreadyExists:      http.StatusConflict,
	codes.Aborted:            http.StatusConflict,
	codes.NotFound:           http.StatusNotFound,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
	codes.Canceled:           http.StatusRequestTimeout,
	codes.Unimplemented:      http.StatusNotImplemented,
}

// toAPIError classifies err: a node's refusal keeps its gRPC code, the
// client's own refusals of bad input are InvalidArgument, the rest
// Internal.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	code := codes.Internal
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		code = st.Code()
	} else {
		switch {
		case errors.Is(err, client.ErrInvalidOptions), errors.Is(err, client.ErrIdentityFile), errors.Is(err, client.ErrJobSpec):
			code = codes.InvalidArgument
		case errors.Is(err, client.ErrNotRegistered), errors.Is(err, client.ErrNoFederation), errors.Is(err, client.ErrDatasetNotReady),
			errors.Is(err, client.ErrNotCounted), errors.Is(err, client.ErrNoReward):
			code = codes.FailedPrecondition
		case errors.Is(err, fs.ErrNotExist):
			code = codes.NotFound
		case errors.Is(err, fs.ErrExist):
			code = codes.AlreadyExists
		case errors.Is(err, fs.ErrPermission):
			code = codes.PermissionDenied
		}
	}
	st, ok := httpStatusOf[code]
	if !ok {
		st = http.StatusInternalServerError
	}
	return &apiError{status: st, code: code.String(), message: err.Error()}
}

// errorBody is the JSON of an error response.
type errorBody struct {
	Error struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	var b errorBody
	b.Error.Message, b.Error.Code = ae.message, ae.code
	writeJSONStatus(w, ae.status, b)
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, st int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(st)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

// maxJSONBody bounds a JSON request body.
const maxJSONBody = 1 << 20

// readJSON decodes the request body into v, refusing unknown fields, a
// body over maxJSONBody and trailing data.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	if dec.More() {
		return badRequest("request body: more than one JSON value")
	}
	return nil
}
