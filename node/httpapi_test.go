package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// TestHTTPAPI calls every kind of public service through the HTTP/JSON API
// — REST routes and Connect paths — with and without credentials, and
// checks that what the node does not expose over HTTP is not reachable.
func TestHTTPAPI(t *testing.T) {
	f := newTestFederation(t, 3)
	ds := f.installDataset(t)
	h, err := f.nodes[0].n.HTTPHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	md, _ := metadata.FromOutgoingContext(f.buyer(t, 0, "acme"))
	buyerAuth := md.Get("authorization")[0]
	adminAuth := "Bearer " + testAdminToken

	call := func(method, path, auth, body string) (int, []byte) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, srv.URL+path, r)
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if strings.HasPrefix(path, "/cohort.v1.") {
			req.Header.Set("Connect-Protocol-Version", "1") // the Connect protocol, not a REST route
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	decode := func(b []byte, m proto.Message) {
		t.Helper()
		if err := protojson.Unmarshal(b, m); err != nil {
			t.Fatalf("%T: %v\n%s", m, err, b)
		}
	}
	// errorCode reads a REST error body: a google.rpc.Status in JSON.
	errorCode := func(b []byte) string {
		t.Helper()
		var st struct {
			Code    any    `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(b, &st); err != nil || st.Message == "" {
			t.Fatalf("error body is not a status: %v\n%s", err, b)
		}
		return strings.ToLower(strings.Trim(string(mustJSON(t, st.Code)), `"`))
	}

	// Contributor and audit: public.
	code, b := call("GET", "/v1/datasets/"+ds.GetId(), "", "")
	var gd cohortv1.GetDatasetResponse
	if code != http.StatusOK {
		t.Fatalf("GET dataset: %d %s", code, b)
	}
	decode(b, &gd)
	if !proto.Equal(gd.GetDataset(), ds) {
		t.Fatal("GET dataset: another descriptor than the node's")
	}
	code, b = call("GET", "/v1/datasets/"+ds.GetId()+"/transcripts", "", "")
	var lt cohortv1.ListTranscriptsResponse
	if code != http.StatusOK {
		t.Fatalf("GET transcripts: %d %s", code, b)
	}
	decode(b, &lt)
	code, b = call("GET", "/v1/public/datasets", "", "")
	var pub cohortv1.ContributorServiceListDatasetsResponse
	if code != http.StatusOK {
		t.Fatalf("GET public datasets: %d %s", code, b)
	}
	decode(b, &pub)
	if len(pub.GetDatasets()) != 1 || !proto.Equal(pub.GetDatasets()[0], ds) {
		t.Fatalf("GET public datasets: %v", &pub)
	}
	if code, b = call("GET", "/v1/public/datasets?pageSize=1000", "", ""); code != http.StatusBadRequest {
		t.Fatalf("GET public datasets, a page too large: %d %s", code, b)
	}
	if code, b = call("GET", "/v1/datasets/no-such", "", ""); code != http.StatusNotFound || errorCode(b) != "5" {
		t.Fatalf("GET unknown dataset: %d %s", code, b)
	}

	// A payout account by its key (base64url in the path); a claim whose
	// proof does not decode is InvalidArgument.
	payout := bytes.Repeat([]byte{0xfb}, 32)
	code, b = call("GET", "/v1/payouts/"+base64.URLEncoding.EncodeToString(payout), "", "")
	var gp cohortv1.GetPayoutResponse
	if code != http.StatusOK {
		t.Fatalf("GET payout: %d %s", code, b)
	}
	decode(b, &gp)
	if !bytes.Equal(gp.GetPayout().GetPayoutKey(), payout) || gp.GetPayout().GetCredited() != 0 {
		t.Fatalf("GET payout: %v", &gp)
	}
	claim := `{"claimNullifier": "` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `", "payoutKey": "` + base64.StdEncoding.EncodeToString(payout) +
		`", "proof": "` + base64.StdEncoding.EncodeToString(make([]byte, 2+3*32+64)) + `"}`
	if code, b = call("POST", "/v1/jobs/job-none/claims", "", claim); code != http.StatusBadRequest || errorCode(b) != "3" || !strings.Contains(string(b), "proof") {
		t.Fatalf("POST a claim with a malformed proof: %d %s", code, b)
	}

	// Buyer: a token is needed; with it, a job is submitted and read back.
	if code, b = call("GET", "/v1/datasets", "", ""); code != http.StatusUnauthorized || errorCode(b) != "16" {
		t.Fatalf("GET datasets without a token: %d %s", code, b)
	}
	if code, b = call("GET", "/v1/datasets", "Bearer cohort-buyer-wrong", ""); code != http.StatusUnauthorized {
		t.Fatalf("GET datasets with a wrong token: %d %s", code, b)
	}
	code, b = call("GET", "/v1/datasets", buyerAuth, "")
	var ld cohortv1.ListDatasetsResponse
	if code != http.StatusOK {
		t.Fatalf("GET datasets: %d %s", code, b)
	}
	decode(b, &ld)
	if len(ld.GetDatasets()) != 1 {
		t.Fatalf("GET datasets: %v", &ld)
	}
	// A buyer's HTTP client sends the same signed submission a gRPC client
	// does (cohort buyer sign prints one).
	buyerCtx := f.buyer(t, 0, "acme-http")
	md2, _ := metadata.FromOutgoingContext(buyerCtx)
	buyerAuth = md2.Get("authorization")[0]
	jobSpec := &cohortv1.JobSpec{DatasetId: ds.GetId(), EpochFrom: 1, EpochTo: 1, Purpose: "public-health",
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
	signedBody := func(requestID string) string {
		t.Helper()
		k := buyerCtx.Value(buyerKeyCtx{}).(*testBuyerKey)
		sub, err := signSubmission(k, jobSpec, ds, requestID, k.now())
		if err != nil {
			t.Fatal(err)
		}
		body, err := protojson.Marshal(&cohortv1.SubmitJobRequest{Spec: jobSpec, RequestId: requestID, Submission: sub})
		if err != nil {
			t.Fatal(err)
		}
		return string(body)
	}
	spec := signedBody("http-1")
	unsigned := `{"requestId": "http-0", "spec": {"datasetId": "` + ds.GetId() + `", "epochFrom": "1", "epochTo": "1", "purpose": "public-health", "outputs": [{"kind": "OUTPUT_KIND_COUNT"}]}}`
	if code, b = call("POST", "/v1/jobs", buyerAuth, unsigned); code != http.StatusUnauthorized || errorCode(b) != "16" {
		t.Fatalf("POST an unsigned job: %d %s", code, b)
	}
	code, b = call("POST", "/v1/jobs", buyerAuth, spec)
	var sj cohortv1.SubmitJobResponse
	if code != http.StatusOK {
		t.Fatalf("POST job: %d %s", code, b)
	}
	decode(b, &sj)
	id := sj.GetJob().GetJobId()
	code, b = call("GET", "/v1/jobs/"+id, buyerAuth, "")
	var gj cohortv1.GetJobResponse
	if code != http.StatusOK {
		t.Fatalf("GET job: %d %s", code, b)
	}
	decode(b, &gj)
	if gj.GetJob().GetJobId() != id {
		t.Fatalf("GET job: %v", &gj)
	}
	// Times outside signed statements are google.protobuf.Timestamp: an
	// RFC 3339 string in JSON (docs/design.md §8.6).
	var raw struct {
		Job struct {
			SubmittedAt string `json:"submittedAt"`
		} `json:"job"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("GET job: %v\n%s", err, b)
	}
	if at, err := time.Parse(time.RFC3339, raw.Job.SubmittedAt); err != nil || !at.Equal(gj.GetJob().GetSubmittedAt().AsTime()) || time.Since(at) > time.Hour {
		t.Fatalf("GET job: submittedAt %q is not the RFC 3339 submission time: %v\n%s", raw.Job.SubmittedAt, err, b)
	}
	if code, b = call("POST", "/v1/jobs", buyerAuth, `{"spec": {"datasetId": 7}}`); code != http.StatusBadRequest || errorCode(b) != "3" {
		t.Fatalf("POST malformed job: %d %s", code, b)
	}
	if code, b = call("POST", "/v1/jobs", buyerAuth, `{"requestId": "http-2", "spec": {"datasetId": "`+ds.GetId()+`", "purpose": "x"}}`); code != http.StatusBadRequest || !strings.Contains(string(b), "google.rpc.BadRequest") || !strings.Contains(string(b), `"field":"spec.`) {
		t.Fatalf("POST invalid job: %d %s", code, b)
	}
	big := `{"spec": {"purpose": "` + strings.Repeat("x", MinMessageBytes) + `"}}`
	if code, _ = call("POST", "/v1/jobs", buyerAuth, big); code < 400 || code == http.StatusOK {
		t.Fatalf("POST a body over the message limit: %d", code)
	}

	// The same method by its Connect path, JSON in and out.
	code, b = call("POST", "/cohort.v1.BuyerService/GetJob", buyerAuth, `{"jobId": "`+id+`"}`)
	if code != http.StatusOK {
		t.Fatalf("Connect GetJob: %d %s", code, b)
	}
	decode(b, &gj)

	// Admin: status only, with the admin token.
	if code, b = call("GET", "/v1/admin/status", "", ""); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Fatalf("GET status without the admin token: %d %s", code, b)
	}
	code, b = call("GET", "/v1/admin/status", adminAuth, "")
	var ns cohortv1.NodeStatusResponse
	if code != http.StatusOK {
		t.Fatalf("GET status: %d %s", code, b)
	}
	decode(b, &ns)
	if ns.GetNodeIndex() != 0 || len(ns.GetPeers()) != 2 {
		t.Fatalf("GET status: %v", &ns)
	}
	for _, m := range []string{"CreateBuyer", "IssueInvites", "CreateDataset"} {
		if code, _ = call("POST", "/cohort.v1.AdminService/"+m, adminAuth, `{}`); code != http.StatusNotFound {
			t.Fatalf("Connect AdminService/%s: %d, want 404", m, code)
		}
	}
	if code, _ = call("POST", "/cohort.v1.PeerService/PrepareJob", "", `{}`); code != http.StatusNotFound {
		t.Fatalf("PeerService over HTTP: %d, want 404", code)
	}
	// The refused submissions stored nothing: the buyer has one job.
	code, b = call("GET", "/v1/jobs", buyerAuth, "")
	var lj cohortv1.ListJobsResponse
	if code != http.StatusOK {
		t.Fatalf("GET jobs: %d %s", code, b)
	}
	decode(b, &lj)
	if len(lj.GetJobs()) != 1 || lj.GetJobs()[0].GetJobId() != id {
		t.Fatalf("jobs after the refused submissions: %v", &lj)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// TestFieldDetails: an InvalidArgument naming its field carries a
// google.rpc.BadRequest with that field, over gRPC and over HTTP.
func TestFieldDetails(t *testing.T) {
	for _, c := range []struct {
		in        error
		field     string
		withField bool
	}{
		{status.Error(codes.InvalidArgument, "spec.outputs[0].kind: unknown output kind"), "spec.outputs[0].kind", true},
		{status.Error(codes.InvalidArgument, "request_id: want 1..64 bytes"), "request_id", true},
		{status.Error(codes.InvalidArgument, "Spec is wrong: x"), "", false},
		{status.Error(codes.InvalidArgument, "no colon here"), "", false},
		{status.Error(codes.NotFound, "job: not found"), "", false},
		{nil, "", false},
	} {
		out := withFieldDetails(c.in)
		st := status.Convert(out)
		if c.in == nil {
			if out != nil {
				t.Fatalf("nil became %v", out)
			}
			continue
		}
		if st.Code() != status.Code(c.in) || st.Message() != status.Convert(c.in).Message() {
			t.Fatalf("%v changed to %v", c.in, out)
		}
		var got string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 {
				got = br.GetFieldViolations()[0].GetField()
			}
		}
		if got != c.field {
			t.Errorf("%v: field %q, want %q", c.in, got, c.field)
		}
	}
}
