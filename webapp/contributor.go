package webapp

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// identityJSON is the public part of an identity: the commitment and the
// membership. The secret is never in it.
type identityJSON struct {
	Path        string `json:"path"`
	Commitment  string `json:"commitment"` // hex
	Registered  bool   `json:"registered"`
	Federation  string `json:"federation,omitempty"` // the node it registered through
	MemberIndex uint64 `json:"member_index"`
}

func identitySummary(path string, id *client.Identity) *identityJSON {
	ic := id.Commitment()
	out := &identityJSON{Path: path, Commitment: hex.EncodeToString(ic[:])}
	if m := id.Member; m != nil {
		out.Registered, out.Federation, out.MemberIndex = true, m.Federation, m.Index
	}
	return out
}

type pathRequest struct {
	Path string `json:"path"`
}

// identityPath checks a path the page sends: absolute, cleaned.
func identityPath(p string) (string, error) {
	if p == "" || !filepath.IsAbs(p) {
		return "", badRequest("give the identity file as an absolute path (got %q)", p)
	}
	return filepath.Clean(p), nil
}

// handleIdentityCreate draws a new identity and writes it to a new file
// (never over an existing one), then makes it the app's identity.
func (s *Server) handleIdentityCreate(w http.ResponseWriter, r *http.Request) {
	var req pathRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	path, err := identityPath(req.Path)
	if err != nil {
		writeError(w, err)
		return
	}
	id, err := client.NewIdentity(nil)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := id.Save(path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			err = errorf(http.StatusConflict, "AlreadyExists", "an identity already exists at %s; it is kept (its secret is the only way to revoke its records): open it instead", path)
		}
		writeError(w, err)
		return
	}
	s.setIdentity(path, id)
	writeJSON(w, identitySummary(path, id))
}

func (s *Server) handleIdentityOpen(w http.ResponseWriter, r *http.Request) {
	var req pathRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	path, err := identityPath(req.Path)
	if err != nil {
		writeError(w, err)
		return
	}
	id, err := client.LoadIdentity(path)
	if errors.Is(err, fs.ErrNotExist) {
		err = errorf(http.StatusNotFound, "NotFound", "no identity at %s: create one", path)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.setIdentity(path, id)
	writeJSON(w, identitySummary(path, id))
}

func (s *Server) setIdentity(path string, id *client.Identity) {
	s.idMu.Lock()
	s.idPath, s.id = path, id
	s.idMu.Unlock()
}

// identity returns the open identity and its file.
func (s *Server) identity() (string, *client.Identity, error) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if s.id == nil {
		return "", nil, errorf(http.StatusConflict, "FailedPrecondition", "no identity is open: create or open one first")
	}
	return s.idPath, s.id, nil
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Invite string `json:"invite"`
	}
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	req.Invite = strings.TrimSpace(req.Invite)
	if req.Invite == "" {
		writeError(w, badRequest("paste the invite token the federation gave you"))
		return
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if s.id == nil {
		writeError(w, errorf(http.StatusConflict, "FailedPrecondition", "no identity is open: create or open one first"))
		return
	}
	if m := s.id.Member; m != nil {
		writeError(w, errorf(http.StatusConflict, "FailedPrecondition", "this identity is already registered with %s (member %d); use a separate identity file for another federation, so that the two registries cannot link your records", m.Federation, m.Index))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	m, err := s.cfg.Client.Register(ctx, s.id, req.Invite)
	if err != nil {
		writeError(w, err)
		return
	}
	id := *s.id
	id.Member = &m
	if err := id.Update(s.idPath); err != nil {
		writeError(w, fmt.Errorf("registered as member %d, but saving the membership to %s failed: %w", m.Index, s.idPath, err))
		return
	}
	s.id = &id
	writeJSON(w, identitySummary(s.idPath, s.id))
}

// contributeRequest is the contribution form: values as the person typed
// them, and the consent terms.
type contributeRequest struct {
	Dataset   string            `json:"dataset"`
	Record    map[string]string `json:"record"`
	Purposes  []string          `json:"purposes"`
	Expiry    string            `json:"expiry"` // YYYY-MM-DD (until the end of that day, UTC) or RFC 3339
	MinCohort *uint32           `json:"min_cohort"`
}

var decimalPattern = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// recordJSON writes the form's values as the record JSON the schema reads
// (schema.ParseRecordJSON), which checks every value.
func recordJSON(sc *schema.Schema, vals map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range sc.Fields {
		v, ok := vals[f.Name]
		v = strings.TrimSpace(v)
		if !ok || v == "" {
			return nil, badRequest("%s: give a value", f.Name)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(f.Name)
		b.Write(name)
		b.WriteByte(':')
		switch f.Type {
		case schema.Int, schema.Fixed:
			if !decimalPattern.MatchString(v) {
				return nil, badRequest("%s: %q is not a number", f.Name, v)
			}
			b.WriteString(v)
		case schema.Bool:
			if v != "true" && v != "false" {
				return nil, badRequest("%s: choose yes or no", f.Name)
			}
			b.WriteString(v)
		default:
			s, _ := json.Marshal(v)
			b.Write(s)
		}
	}
	for k := range vals {
		if _, ok := sc.Field(k); !ok {
			return nil, badRequest("the dataset has no field %q", k)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(24*time.Hour - time.Second), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, badRequest("expiry %q: give a date (until the end of that day, UTC)", s)
}

// contributeResult is a finished contribution.
type contributeResult struct {
	Receipt   *receiptJSON `json:"receipt"`
	Purposes  []string     `json:"purposes"`
	Expiry    string       `json:"expiry"`
	MinCohort uint32       `json:"min_cohort"`
	Existing  bool         `json:"existing,omitempty"` // a record of this epoch was already accepted
}

// handleContribute checks the form and starts proving and uploading the
// record as a task; it answers with the task id at once.
func (s *Server) handleContribute(w http.ResponseWriter, r *http.Request) {
	var req contributeRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	_, id, err := s.identity()
	if err != nil {
		writeError(w, err)
		return
	}
	if id.Member == nil {
		writeError(w, errorf(http.StatusConflict, "FailedPrecondition", "this identity is not registered: join the federation with an invite first"))
		return
	}
	if s.cfg.Federation == nil {
		writeError(w, errorf(http.StatusConflict, "FailedPrecondition", "contributing needs the federation's descriptor: restart the app with --federation federation.yaml (from the federation itself), so every share is sealed to the keys it names"))
		return
	}
	ds, err := s.dataset(r, req.Dataset)
	if err != nil {
		writeError(w, err)
		return
	}
	raw, err := recordJSON(ds.Schema, req.Record)
	if err != nil {
		writeError(w, err)
		return
	}
	record, err := ds.Schema.ParseRecordJSON(raw)
	if err != nil {
		writeError(w, badRequest("%v", err))
		return
	}
	if len(req.Purposes) == 0 {
		writeError(w, badRequest("tick at least one purpose you consent to"))
		return
	}
	expiry, err := parseExpiry(req.Expiry)
	if err != nil {
		writeError(w, err)
		return
	}
	minCohort := ds.Schema.MinCohort
	if req.MinCohort != nil {
		minCohort = *req.MinCohort
	}
	epoch := ds.Schema.Epoch.Index(time.Now())
	opts := client.ContributeOptions{
		Dataset: ds, Epoch: epoch, Record: record, Purposes: req.Purposes,
		Expiry: expiry, MinCohort: minCohort, CacheDir: s.cfg.CacheDir,
	}
	taskID, err := s.tasks.start("contribute", func(update func(func(*task))) (any, error) {
		opts.Progress = func(stage string, done, total int) {
			update(func(t *task) { t.Stage, t.Done, t.Total = stage, done, total })
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		res := contributeResult{Purposes: req.Purposes, Expiry: expiry.UTC().Format(time.RFC3339), MinCohort: minCohort}
		rc, err := s.cfg.Client.Contribute(ctx, id, opts)
		if err != nil {
			if existing, ok := client.ExistingReceipt(err); ok && client.VerifyReceipt(ds, existing, id.Nullifier(ds.Desc.GetId(), epoch)) == nil {
				res.Receipt, res.Existing = receiptSummary(existing), true
				return res, err
			}
			return nil, err
		}
		res.Receipt = receiptSummary(rc)
		return res, nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct {
		Task  string `json:"task"`
		Epoch uint64 `json:"epoch"`
	}{taskID, epoch})
}

// receiptJSON is a receipt as the pages show it.
type receiptJSON struct {
	Dataset       string   `json:"dataset"`
	Epoch         uint64   `json:"epoch"`
	Status        string   `json:"status"` // accepted, revoked
	Nullifier     string   `json:"nullifier"`
	PayloadDigest string   `json:"payload_digest"`
	RegistryRoot  string   `json:"registry_root"`
	AcceptedAt    string   `json:"accepted_at"`
	RevokedAt     string   `json:"revoked_at,omitempty"`
	Signatures    int      `json:"signatures"` // nodes that signed it
	Jobs          []string `json:"jobs,omitempty"`
}

func receiptSummary(r *cohortv1.Receipt) *receiptJSON {
	out := &receiptJSON{
		Dataset:       r.GetDatasetId(),
		Epoch:         r.GetEpoch(),
		Status:        enumName(r.GetStatus().String(), "RECEIPT_STATUS_"),
		Nullifier:     hex.EncodeToString(r.GetNullifier()),
		PayloadDigest: hex.EncodeToString(r.GetPayloadDigest()),
		RegistryRoot:  hex.EncodeToString(r.GetRegistryRoot()),
		AcceptedAt:    unixTime(r.GetAcceptedAt()),
		Signatures:    len(r.GetAcks()),
	}
	if r.GetRevokedAt() != 0 {
		out.RevokedAt = unixTime(r.GetRevokedAt())
	}
	return out
}

func unixTime(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

// apiTime formats a time of the node's API as RFC 3339 in UTC; "" when it
// is unset.
func apiTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

// epochParam reads ?epoch= ("" or "current" for the dataset's current one).
func epochParam(r *http.Request, sc *schema.Schema) (uint64, error) {
	v := r.URL.Query().Get("epoch")
	if v == "" || v == "current" {
		return sc.Epoch.Index(time.Now()), nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, badRequest("epoch %q: give a number or \"current\"", v)
	}
	return n, nil
}

func (s *Server) handleReceipt(w http.ResponseWriter, r *http.Request) {
	_, id, err := s.identity()
	if err != nil {
		writeError(w, err)
		return
	}
	ds, err := s.dataset(r, r.URL.Query().Get("dataset"))
	if err != nil {
		writeError(w, err)
		return
	}
	epoch, err := epochParam(r, ds.Schema)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	resp, err := s.cfg.Client.Receipt(ctx, ds.Desc.GetId(), id.Nullifier(ds.Desc.GetId(), epoch))
	if err != nil {
		writeError(w, err)
		return
	}
	out := receiptSummary(resp.GetReceipt())
	out.Jobs = resp.GetJobIds()
	writeJSON(w, out)
}

func (s *Server) handleMyJobs(w http.ResponseWriter, r *http.Request) {
	_, id, err := s.identity()
	if err != nil {
		writeError(w, err)
		return
	}
	dsID := r.URL.Query().Get("dataset")
	if _, err := s.dataset(r, dsID); err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*callTimeout)
	defer cancel()
	mj, err := s.cfg.Client.MyJobs(ctx, id, dsID)
	if err != nil {
		writeError(w, err)
		return
	}
	type counted struct {
		Job        string `json:"job"`
		ReleasedAt string `json:"released_at"`
		Cohort     uint64 `json:"cohort"`
		Epoch      uint64 `json:"epoch"`
	}
	out := struct {
		Searched int       `json:"searched"`
		Counted  []counted `json:"counted"`
	}{Searched: mj.Searched, Counted: []counted{}}
	for _, c := range mj.Counted {
		out.Counted = append(out.Counted, counted{c.TranscriptID, c.ReleasedAt.UTC().Format(time.RFC3339), c.CohortSize, c.Epoch})
	}
	writeJSON(w, out)
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Dataset string `json:"dataset"`
		Epoch   uint64 `json:"epoch"`
	}
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	_, id, err := s.identity()
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.dataset(r, req.Dataset); err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	resp, err := s.cfg.Client.Revoke(ctx, id, req.Dataset, req.Epoch)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct {
		Nullifier  string `json:"nullifier"`
		RevokedAt  string `json:"revoked_at"`
		Signatures int    `json:"signatures"`
	}{hex.EncodeToString(resp.GetNullifier()), unixTime(resp.GetRevokedAt()), len(resp.GetSignatures())})
}
