package webapp

import (
	"context"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// callTimeout bounds one API call to the node; long work (proving,
// watching a job) runs as a task instead.
const callTimeout = 60 * time.Second

// sessionJSON is what the home page shows: the node, the federation and
// who the app acts as. It never holds a secret.
type sessionJSON struct {
	Node       string          `json:"node"`
	Pinned     bool            `json:"pinned"` // --federation given: datasets are checked against it
	Federation *federationJSON `json:"federation"`
	Buyer      bool            `json:"buyer"` // a buyer token is loaded
	Identity   *identityJSON   `json:"identity"`
	IdentityAt string          `json:"identity_path"` // the identity file the contributor page offers
}

type federationJSON struct {
	Name      string     `json:"name"`
	Admission string     `json:"admission"`
	Nodes     []nodeJSON `json:"nodes"`
}

type nodeJSON struct {
	Index   uint32 `json:"index"`
	Name    string `json:"name"`
	Address string `json:"address"`
}

func (s *Server) handleSession(w http.ResponseWriter, _ *http.Request) {
	out := sessionJSON{Node: s.cfg.Node, Pinned: s.cfg.Federation != nil, Buyer: s.cfg.Buyer != nil}
	if d := s.cfg.Federation; d != nil {
		f := &federationJSON{Name: d.Name, Admission: string(d.Admission)}
		for _, n := range d.Nodes {
			f.Nodes = append(f.Nodes, nodeJSON{Index: n.Index, Name: n.Name, Address: n.APIAddress})
		}
		out.Federation = f
	}
	s.idMu.Lock()
	out.IdentityAt = s.idPath
	if s.id != nil {
		out.Identity = identitySummary(s.idPath, s.id)
	}
	s.idMu.Unlock()
	writeJSON(w, out)
}

// datasetJSON is a dataset as the pages show it.
type datasetJSON struct {
	ID           string      `json:"id"`
	State        string      `json:"state"`   // setup, ready, failed
	Backend      string      `json:"backend"` // mpc, he
	Setup        string      `json:"setup"`   // ceremony, insecure-dev
	InsecureDev  bool        `json:"insecure_dev"`
	Nodes        int         `json:"nodes"`
	Fields       []fieldJSON `json:"fields"`
	Moments      []string    `json:"moments"`
	Purposes     []string    `json:"purposes"`
	EpochPeriod  string      `json:"epoch_period"`
	CurrentEpoch uint64      `json:"current_epoch"`
	EpochStart   string      `json:"epoch_start"` // RFC 3339, of the current epoch
	MinCohort    uint32      `json:"min_cohort"`
	MaxCohort    uint64      `json:"max_cohort"`
	Mechanism    string      `json:"mechanism"` // discrete_gaussian, exact_insecure_dev
	EpochRho     string      `json:"epoch_rho"`
	BuyerRho     string      `json:"buyer_rho"`
	PricePerRec  uint64      `json:"price_per_record"` // micro-credits per counted record; 0: free
	JobFee       uint64      `json:"job_fee"`          // micro-credits per released job
	CreatedAt    string      `json:"created_at"`
}

type fieldJSON struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // int, fixed, bool, category
	Min      string   `json:"min,omitempty"`
	Max      string   `json:"max,omitempty"`
	Decimals int      `json:"decimals,omitempty"`
	Values   []string `json:"values,omitempty"`
}

func enumName(s, prefix string) string { return strings.ToLower(strings.TrimPrefix(s, prefix)) }

func datasetSummary(ds *dataset.Dataset, now time.Time) datasetJSON {
	d, sc := ds.Desc, ds.Schema
	cur := sc.Epoch.Index(now)
	out := datasetJSON{
		ID:           d.GetId(),
		State:        enumName(d.GetState().String(), "DATASET_STATE_"),
		Backend:      enumName(d.GetBackend().String(), "BACKEND_"),
		Setup:        strings.ReplaceAll(enumName(d.GetSetupKind().String(), "SETUP_KIND_"), "_", "-"),
		InsecureDev:  d.GetSetupKind() == cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV,
		Nodes:        len(d.GetNodes()),
		Moments:      sc.Moments,
		Purposes:     sc.Purposes,
		EpochPeriod:  sc.Epoch.String(),
		CurrentEpoch: cur,
		EpochStart:   sc.Epoch.Start(cur).UTC().Format(time.RFC3339),
		MinCohort:    sc.MinCohort,
		MaxCohort:    sc.MaxCohort,
		Mechanism:    enumName(d.GetPrivacy().GetMechanism().String(), "RELEASE_MECHANISM_"),
		EpochRho:     d.GetPrivacy().GetEpochRho(),
		BuyerRho:     d.GetPrivacy().GetBuyerRho(),
		PricePerRec:  d.GetPricePerRecord(),
		JobFee:       d.GetJobFee(),
		CreatedAt:    time.Unix(d.GetCreatedAt(), 0).UTC().Format(time.RFC3339),
	}
	for _, f := range sc.Fields {
		fj := fieldJSON{Name: f.Name, Type: f.Type.String()}
		switch f.Type {
		case schema.Int, schema.Fixed:
			fj.Min, fj.Max, fj.Decimals = scaled(f.Min, f.Decimals), scaled(f.Max, f.Decimals), f.Decimals
		case schema.Category:
			fj.Values = f.Values
		}
		out.Fields = append(out.Fields, fj)
	}
	return out
}

// scaled writes x·10^-decimals exactly.
func scaled(x int64, decimals int) string {
	if decimals == 0 {
		return big.NewInt(x).String()
	}
	return new(big.Rat).SetFrac(big.NewInt(x), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)).FloatString(decimals)
}

// handleDatasets lists the node's datasets (ContributorService.
// ListDatasets, public), each checked through the contributor client
// against the pinned federation.
func (s *Server) handleDatasets(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Listed   bool          `json:"listed"`
		Datasets []datasetJSON `json:"datasets"`
		Skipped  []string      `json:"skipped,omitempty"` // ids that did not check out, with why
	}{Datasets: []datasetJSON{}}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	list, err := s.cfg.Client.Datasets(ctx)
	if err != nil {
		writeError(w, err)
		return
	}
	out.Listed = true
	now := time.Now()
	for _, d := range list {
		// Through the contributor client, so a pinned federation checks
		// each descriptor.
		ds, err := s.cfg.Client.Dataset(ctx, d.GetId())
		if err != nil {
			out.Skipped = append(out.Skipped, d.GetId()+": "+err.Error())
			continue
		}
		out.Datasets = append(out.Datasets, datasetSummary(ds, now))
	}
	writeJSON(w, out)
}

func (s *Server) handleDataset(w http.ResponseWriter, r *http.Request) {
	ds, err := s.dataset(r, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, datasetSummary(ds, time.Now()))
}

// dataset fetches a dataset through the contributor client (checked
// against the pinned federation, if any).
func (s *Server) dataset(r *http.Request, id string) (*dataset.Dataset, error) {
	if !dataset.ValidID(id) {
		return nil, badRequest("dataset id %q is not 1..64 characters of a-z, 0-9 and -", id)
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	return s.cfg.Client.Dataset(ctx, id)
}
