package cohortv1_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// requestTypes are the messages a node decodes from callers.
func requestTypes() []proto.Message {
	return []proto.Message{
		&cohortv1.GetDatasetRequest{}, &cohortv1.RegisterRequest{}, &cohortv1.GetMembershipPathRequest{},
		&cohortv1.ContributeRequest{}, &cohortv1.RevokeRequest{}, &cohortv1.GetReceiptRequest{},
		&cohortv1.CreateDatasetRequest{}, &cohortv1.IssueInvitesRequest{}, &cohortv1.NodeStatusRequest{},
		&cohortv1.StartCeremonyRequest{}, &cohortv1.CeremonyContributeRequest{}, &cohortv1.SealCeremonyRequest{},
		&cohortv1.ForwardContributionRequest{}, &cohortv1.AbortContributionRequest{},
		&cohortv1.ApplyRegistrationRequest{}, &cohortv1.GetRegistryStateRequest{},
		&cohortv1.ListDatasetsRequest{}, &cohortv1.ContributorServiceListDatasetsRequest{}, &cohortv1.SubmitJobRequest{}, &cohortv1.GetJobRequest{},
		&cohortv1.WatchJobRequest{}, &cohortv1.ListJobsRequest{}, &cohortv1.CancelJobRequest{},
		&cohortv1.GetResultRequest{}, &cohortv1.GetTranscriptRequest{}, &cohortv1.GetVerifyingKeyRequest{},
		&cohortv1.GetCeremonyRequest{}, &cohortv1.GetProvingKeyRequest{}, &cohortv1.AbortCeremonyRequest{},
		&cohortv1.GetContributionAckRequest{}, &cohortv1.ForwardRevocationRequest{},
		&cohortv1.ProposeRegistrationRequest{}, &cohortv1.StoreInvitesRequest{},
		&cohortv1.PrepareJobRequest{}, &cohortv1.ComputePartialRequest{}, &cohortv1.StoreBuyerRequest{},
		&cohortv1.HEKeygenRequest{}, &cohortv1.HEKeygenRevealRequest{}, &cohortv1.HEKeygenFinishRequest{}, &cohortv1.GetBudgetRequest{},
		&cohortv1.CreateBuyerRequest{}, &cohortv1.SignTranscriptRequest{}, &cohortv1.PublishTranscriptRequest{}, &cohortv1.ListTranscriptsRequest{},
		&cohortv1.CreditBuyerRequest{}, &cohortv1.CheckBalancesRequest{}, &cohortv1.GetBalanceRequest{},
		&cohortv1.StoreCreditRequest{}, &cohortv1.AbortJobRequest{}, &cohortv1.GetBalancesRequest{},
		&cohortv1.DatasetReadyRequest{},
		&cohortv1.GetClaimKeyRequest{}, &cohortv1.ClaimRewardRequest{}, &cohortv1.GetPayoutRequest{},
		&cohortv1.StoreClaimRequest{}, &cohortv1.GetClaimKeysRequest{}, &cohortv1.OrderClaimRequest{},
		&cohortv1.SetupClaimKeysRequest{}, &cohortv1.StartClaimCeremonyRequest{}, &cohortv1.GetClaimCeremonyRequest{},
		&cohortv1.ListClaimsRequest{},
		&cohortv1.TransferPayoutRequest{}, &cohortv1.OrderPayoutTransferRequest{}, &cohortv1.StorePayoutTransferRequest{},
		&cohortv1.SignPayoutStatementRequest{},
	}
}

// FuzzUnmarshalRequests decodes arbitrary bytes as every request type: no
// input may panic, and whatever decodes must survive a round trip.
func FuzzUnmarshalRequests(f *testing.F) {
	seeds := []proto.Message{
		&cohortv1.ContributeRequest{DatasetId: "fitness-2026", Payload: []byte{1, 2, 3}},
		&cohortv1.CreateDatasetRequest{SchemaSource: &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: "id: x\n"}, NodeCount: 3},
		&cohortv1.CeremonyContributeRequest{Part: &cohortv1.CeremonyContributeRequest_Chunk{Chunk: &cohortv1.Chunk{Offset: 9, Data: []byte("d")}}},
		&cohortv1.SubmitJobRequest{Spec: &cohortv1.JobSpec{Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}}}}},
		&cohortv1.ApplyRegistrationRequest{Update: &cohortv1.RegistryUpdate{Sequence: 1, Root: make([]byte, 32)}},
	}
	for _, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range requestTypes() {
			m := typ.ProtoReflect().New().Interface()
			if proto.Unmarshal(data, m) != nil {
				continue
			}
			b, err := proto.Marshal(m)
			if err != nil {
				t.Fatalf("%T: re-marshal of a decoded message: %v", m, err)
			}
			again := typ.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, again); err != nil {
				t.Fatalf("%T: re-decode: %v", m, err)
			}
			if !proto.Equal(m, again) {
				t.Fatalf("%T: round trip changed the message", m)
			}
		}
	})
}

// TestRequestTypesCoverEveryMethod keeps the fuzz target in step with the
// API: every method's input type is fuzzed.
func TestRequestTypesCoverEveryMethod(t *testing.T) {
	fuzzed := map[protoreflect.FullName]bool{}
	for _, m := range requestTypes() {
		fuzzed[m.ProtoReflect().Descriptor().FullName()] = true
	}
	files := []protoreflect.FileDescriptor{
		cohortv1.File_cohort_v1_contributor_service_proto, cohortv1.File_cohort_v1_admin_service_proto,
		cohortv1.File_cohort_v1_peer_service_proto, cohortv1.File_cohort_v1_buyer_service_proto,
		cohortv1.File_cohort_v1_audit_service_proto,
	}
	for _, fd := range files {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				md := sd.Methods().Get(j)
				if !fuzzed[md.Input().FullName()] {
					t.Errorf("%s: input %s is not fuzzed", md.FullName(), md.Input().FullName())
				}
			}
		}
	}
}
