package webapp

import (
	"context"
	"io"
	"net/http"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/client"
)

// checkMeanings says in one line what each audit check vouches for when it
// passes, for the auditor page.
var checkMeanings = map[string]string{
	audit.CheckTranscript:           "The bundle decodes and its transcript is well formed.",
	audit.CheckDescriptor:           "The dataset descriptor is the one the transcript names (and the pinned federation's, when pinned).",
	audit.CheckCircuit:              "The circuit compiled from the dataset's schema is the one the dataset's keys were made for.",
	audit.CheckVerifyingKey:         "The verifying key in the bundle is the dataset's.",
	audit.CheckSetup:                "The dataset's keys came from a verified multi-party ceremony (a development setup can forge proofs).",
	audit.CheckSpec:                 "The job asked only for what the dataset allows.",
	audit.CheckCiphertexts:          "Every record's encrypted values are well formed under the collective key.",
	audit.CheckProofs:               "Every record carries a valid zero-knowledge proof: in range, from a registered member.",
	audit.CheckRecordTerms:          "Every record's consent allowed this job: purpose, expiry, epoch and its own minimum cohort.",
	audit.CheckRegistryRoots:        "Every record was proved against a registry root the nodes published.",
	audit.CheckNullifiers:           "No person counted twice in an epoch, and no revoked record was used.",
	audit.CheckCohort:               "The job counted at least the minimum cohort of records.",
	audit.CheckEligibleSets:         "The nodes agreed on which records were eligible.",
	audit.CheckPartials:             "Every node's partial sums combine to the released sums.",
	audit.CheckAggregate:            "The encrypted aggregate is the sum of the records' ciphertexts.",
	audit.CheckDecryptionSet:        "Enough nodes took part in the decryption.",
	audit.CheckDecryption:           "The decryption shares are proved correct and combine to the released sums.",
	audit.CheckCoordinates:          "The released sums are exactly the statistics the job asked for.",
	audit.CheckReleaseMechanism:     "The release followed the dataset's privacy policy, with every node's signed privacy debit.",
	audit.CheckOutputs:              "Every released number is recomputed from the released sums.",
	audit.CheckRewards:              "The transcript commits to the counted records for reward claims, with the reward each record earns.",
	audit.CheckTranscriptSignatures: "Every node of the dataset signed this transcript.",
}

// checkJSON is one audit check with its meaning.
type checkJSON struct {
	audit.Check
	Meaning string `json:"meaning"`
}

// reportJSON is audit.Report as JSON, its checks with their meanings.
type reportJSON struct {
	OK               bool        `json:"ok"`
	JobID            string      `json:"job_id"`
	DatasetID        string      `json:"dataset_id"`
	TranscriptDigest string      `json:"transcript_digest"`
	DescriptorDigest string      `json:"descriptor_digest"`
	Cohort           int         `json:"cohort"`
	Pinned           string      `json:"pinned"`
	Setup            string      `json:"setup"`
	Backend          string      `json:"backend"`
	Checks           []checkJSON `json:"checks"`
}

// verify runs the audit "cohort audit verify" runs (audit.VerifyEncoded),
// pinned to the app's federation when it has one.
func (s *Server) verify(bundle []byte, allowDev bool) reportJSON {
	opts := []audit.Option{}
	if allowDev {
		opts = append(opts, audit.AllowInsecureDevSetup())
	}
	if s.cfg.Federation != nil {
		opts = append(opts, audit.WithFederation(s.cfg.Federation))
	}
	rep := audit.VerifyEncoded(bundle, audit.DefaultLimits(), opts...)
	out := reportJSON{
		OK: rep.OK(), JobID: rep.JobID, DatasetID: rep.DatasetID, TranscriptDigest: rep.TranscriptDigest,
		DescriptorDigest: rep.DescriptorDigest, Cohort: rep.Cohort, Pinned: rep.Pinned, Setup: rep.Setup,
		Backend: rep.Backend, Checks: []checkJSON{},
	}
	for _, c := range rep.Checks {
		out.Checks = append(out.Checks, checkJSON{Check: c, Meaning: checkMeanings[c.Name]})
	}
	return out
}

// handleAuditVerify verifies the bundle in the request body (the file the
// auditor picked). ?allow_insecure_dev_setup=1 accepts a development setup
// with a warning, as the command's flag does.
func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, client.MaxBundleSize))
	if err != nil {
		writeError(w, errorf(http.StatusRequestEntityTooLarge, "ResourceExhausted", "reading the bundle: %v", err))
		return
	}
	if len(b) == 0 {
		writeError(w, badRequest("the file is empty: choose a transcript bundle"))
		return
	}
	writeJSON(w, s.verify(b, r.URL.Query().Get("allow_insecure_dev_setup") == "1"))
}

// handleAuditFetch fetches a job's transcript bundle from the node and
// verifies it.
func (s *Server) handleAuditFetch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Job                   string `json:"job"`
		AllowInsecureDevSetup bool   `json:"allow_insecure_dev_setup"`
	}
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Job == "" {
		writeError(w, badRequest("give the job (transcript) id"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*callTimeout)
	defer cancel()
	b, err := s.cfg.Client.TranscriptBundle(ctx, req.Job, s.cfg.CacheDir)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, s.verify(b, req.AllowInsecureDevSetup))
}

// handleAuditChecks lists every check with its meaning.
func (s *Server) handleAuditChecks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, checkMeanings)
}
