package cohortv1_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	timestamppb "google.golang.org/protobuf/types/known/timestamppb"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func bytes32(b byte) []byte {
	out := make([]byte, 32)
	for i := range out {
		out[i] = b + byte(i)
	}
	return out
}

// TestRoundTrip marshals and unmarshals one populated message of each
// service (nested messages, oneofs, enums, repeated and bytes fields) and
// checks that nothing is lost.
func TestRoundTrip(t *testing.T) {
	ack := &cohortv1.ContributionAck{
		DatasetId:     "fitness-2026",
		Nullifier:     bytes32(1),
		PayloadDigest: bytes32(2),
		StoredAt:      1_790_000_000,
		Signature: &cohortv1.NodeSignature{
			NodeIndex: 2, Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: make([]byte, 64),
		},
	}
	tests := []struct {
		service string
		msg     proto.Message
	}{
		{"ContributorService", &cohortv1.ContributeResponse{Receipt: &cohortv1.Receipt{
			DatasetId: "fitness-2026", Epoch: 2950, Nullifier: bytes32(1), PayloadDigest: bytes32(2),
			RegistryRoot: bytes32(3), Status: cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED,
			AcceptedAt: 1_790_000_001, Acks: []*cohortv1.ContributionAck{ack, ack},
		}}},
		{"AdminService", &cohortv1.SetupClaimKeysResponse{Ceremony: &cohortv1.ClaimCeremony{
			Ceremony: &cohortv1.CeremonyInfo{CeremonyId: "claims-0a1b2c", DomainSize: 8192, CircuitDigest: bytes32(4),
				Participants: []uint32{0, 1, 2}, BeaconSource: "drand round 1", State: cohortv1.CeremonyState_CEREMONY_STATE_SEALED, TranscriptDigest: bytes32(5)},
			Nodes:        []*cohortv1.NodeInfo{{Index: 1, Name: "b", SigningScheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, SigningPublicKey: bytes32(6)}},
			VerifyingKey: []byte{1, 2, 3}, ProvingKeyDigest: bytes32(7),
			Contributions: []*cohortv1.CeremonyAttestation{{Phase: cohortv1.CeremonyPhase_CEREMONY_PHASE_CIRCUIT, Position: 2, ContributionDigest: bytes32(8), Signature: ack.Signature}},
			Signatures:    []*cohortv1.NodeSignature{ack.Signature, ack.Signature},
		}}},
		{"AuditService", &cohortv1.ListClaimsResponse{Claims: []*cohortv1.RewardClaim{{
			Claim:  &cohortv1.ClaimRewardRequest{JobId: "job-1", ClaimNullifier: bytes32(9), PayoutKey: bytes32(10), Proof: []byte{4, 5}},
			Amount: 3, ClaimedAt: timestamppb.New(time.Unix(1_790_000_002, 0)),
		}}, NextPageToken: "job-1/09"}},
		{"PeerService", &cohortv1.StorePayoutTransferRequest{Transfer: &cohortv1.TransferPayoutRequest{
			PayoutKey: bytes32(11), BuyerId: "acme", Amount: 7, TransferId: "t-1", Signature: bytes32(12)}, TransferredAt: 1_790_000_003}},
		{"ContributorService", &cohortv1.SignPayoutStatementResponse{Statement: &cohortv1.PayoutStatement{
			PayoutKey: bytes32(11), Credited: 9, Transferred: 7, Balance: 2, Claims: 3, At: 1_790_000_004, NodeIndex: 1, Signature: bytes32(13)}}},
		{"AdminService", &cohortv1.CreateDatasetRequest{
			SchemaSource: &cohortv1.CreateDatasetRequest_Schema{Schema: &cohortv1.Schema{
				Id: "fitness-2026",
				Fields: []*cohortv1.Field{
					{Name: "age", Type: cohortv1.FieldType_FIELD_TYPE_INT, MinScaled: 18, MaxScaled: 100},
					{Name: "sleep_h", Type: cohortv1.FieldType_FIELD_TYPE_FIXED, MinScaled: 0, MaxScaled: 1600, Decimals: 2},
					{Name: "region", Type: cohortv1.FieldType_FIELD_TYPE_CATEGORY, Values: []string{"north", "south"}},
				},
				Moments:   []string{"age", "sleep_h"},
				Purposes:  []string{"public-health"},
				Epoch:     cohortv1.EpochPeriod_EPOCH_PERIOD_WEEKLY,
				MinCohort: 20,
			}},
			Backend:          cohortv1.Backend_BACKEND_MPC,
			NodeCount:        3,
			RegistryDepth:    20,
			InsecureDevSetup: true,
		}},
		{"PeerService", &cohortv1.CeremonyContributeRequest{Part: &cohortv1.CeremonyContributeRequest_Header{
			Header: &cohortv1.CeremonyContributionHeader{
				CeremonyId: "c-1", Phase: cohortv1.CeremonyPhase_CEREMONY_PHASE_POWERS_OF_TAU, Index: 1, Contributor: 1,
				Blob: &cohortv1.BlobHeader{TotalSize: 192<<14 + 265, Sha256: bytes32(4)},
			},
		}}},
		{"PeerService", &cohortv1.ForwardContributionResponse{Ack: ack}},
		{"PeerService", &cohortv1.GetRegistryStateResponse{
			Sequence: 7, Root: bytes32(5), NextPageToken: "next",
			Updates: []*cohortv1.RegistryUpdate{{
				Sequence: 7, Kind: cohortv1.RegistryUpdateKind_REGISTRY_UPDATE_KIND_ADD, MemberIndex: 6,
				IdentityCommitment: bytes32(6), PreviousRoot: bytes32(7), Root: bytes32(5), OrderedAt: 1_790_000_002,
			}},
		}},
		{"BuyerService", &cohortv1.SubmitJobRequest{RequestId: "req-1", Spec: &cohortv1.JobSpec{
			DatasetId: "fitness-2026", EpochFrom: 2900, EpochTo: 2950, Purpose: "public-health",
			Backend: cohortv1.Backend_BACKEND_MPC, MinCohort: 50,
			Outputs: []*cohortv1.Output{
				{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
				{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Fields: []string{"age", "steps"}},
				{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "resting_hr",
					Features: []string{"age", "steps"}, RidgeLambda: 0.5, Label: "hr"},
			},
		}}},
		{"BuyerService", &cohortv1.GetResultResponse{Result: &cohortv1.Result{
			JobId: "job-1", CohortSize: 1234, TranscriptId: "t-1", ReleasedAt: 1_790_000_003,
			Outputs: []*cohortv1.OutputValue{
				{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Value: &cohortv1.OutputValue_Scalar{
					Scalar: &cohortv1.Number{Value: 41.5, Exact: "83/2"}}},
				{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Value: &cohortv1.OutputValue_Histogram{
					Histogram: &cohortv1.Histogram{Field: "region", Bins: []*cohortv1.HistogramBin{{Value: "north", Count: 600}, {Value: "south", Count: 634}}}}},
				{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Value: &cohortv1.OutputValue_Regression{
					Regression: &cohortv1.Regression{Target: "resting_hr", Features: []string{"age"}, Intercept: 60, Coefficients: []float64{0.2}}}},
			},
		}}},
		{"BuyerService", &cohortv1.WatchJobResponse{Job: &cohortv1.Job{
			JobId: "job-1", State: cohortv1.JobState_JOB_STATE_REJECTED, Reason: "cohort 12 below minimum 20",
			SubmittedAt: timestamppb.New(time.Unix(1_790_000_000, 0)), UpdatedAt: timestamppb.New(time.Unix(1_790_000_010, 0)),
		}}},
		{"AuditService", &cohortv1.GetCeremonyResponse{Part: &cohortv1.GetCeremonyResponse_Chunk{
			Chunk: &cohortv1.Chunk{Offset: 1 << 20, Data: []byte("contribution bytes")},
		}}},
		{"AuditService", &cohortv1.GetVerifyingKeyResponse{
			VerifyingKey: []byte{1, 2, 3}, SetupKind: cohortv1.SetupKind_SETUP_KIND_CEREMONY,
			KeyMeta: make([]byte, 74), CircuitDigest: bytes32(8),
		}},
	}
	for _, tc := range tests {
		name := tc.service + "/" + string(tc.msg.ProtoReflect().Descriptor().Name())
		t.Run(name, func(t *testing.T) {
			b, err := proto.Marshal(tc.msg)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if len(b) == 0 {
				t.Fatal("Marshal produced no bytes for a populated message")
			}
			got := tc.msg.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !proto.Equal(tc.msg, got) {
				t.Fatalf("round trip changed the message:\n got %v\nwant %v", got, tc.msg)
			}
		})
	}
}

// TestServices pins the API surface: every service and method the design
// names is registered, with the streaming shape it promises.
func TestServices(t *testing.T) {
	type method struct {
		name                 string
		clientStream, server bool
	}
	want := map[string][]method{
		"cohort.v1.ContributorService": {
			{name: "GetDataset"}, {name: "ListDatasets"}, {name: "GetProvingKey", server: true}, {name: "Register"}, {name: "GetMembershipPath"},
			{name: "Contribute"}, {name: "Revoke"}, {name: "GetReceipt"},
			{name: "GetClaimKey", server: true}, {name: "ClaimReward"}, {name: "GetPayout"},
			{name: "TransferPayout"}, {name: "SignPayoutStatement"},
		},
		"cohort.v1.AdminService": {{name: "CreateDataset"}, {name: "IssueInvites"}, {name: "NodeStatus"}, {name: "CreateBuyer"},
			{name: "CreditBuyer"}, {name: "CheckBalances"}, {name: "SetupClaimKeys"}},
		"cohort.v1.PeerService": {
			{name: "StartCeremony"}, {name: "CeremonyContribute", clientStream: true, server: true},
			{name: "SealCeremony", clientStream: true}, {name: "DatasetReady"}, {name: "AbortCeremony"},
			{name: "ForwardContribution"}, {name: "AbortContribution"}, {name: "GetContributionAck"}, {name: "ForwardRevocation"},
			{name: "ProposeRegistration"}, {name: "StoreInvites"},
			{name: "ApplyRegistration"}, {name: "GetRegistryState"},
			{name: "HEKeygen"}, {name: "HEKeygenReveal"}, {name: "HEKeygenFinish"},
			{name: "PrepareJob"}, {name: "ComputePartial"}, {name: "StoreBuyer"}, {name: "SignTranscript", clientStream: true},
			{name: "StoreCredit"}, {name: "AbortJob"}, {name: "GetBalances"}, {name: "PublishTranscript", clientStream: true},
			{name: "OrderClaim"}, {name: "StoreClaim"}, {name: "GetClaimKeys", server: true}, {name: "StartClaimCeremony"},
			{name: "OrderPayoutTransfer"}, {name: "StorePayoutTransfer"},
		},
		"cohort.v1.BuyerService": {
			{name: "ListDatasets"}, {name: "SubmitJob"}, {name: "GetJob"}, {name: "WatchJob", server: true},
			{name: "ListJobs"}, {name: "CancelJob"}, {name: "GetResult"}, {name: "GetBudget"},
			{name: "GetBalance"},
		},
		"cohort.v1.AuditService": {
			{name: "GetTranscript", server: true}, {name: "ListTranscripts"}, {name: "GetVerifyingKey"}, {name: "GetCeremony", server: true},
			{name: "GetClaimCeremony", server: true}, {name: "ListClaims"},
		},
	}
	for svc, methods := range want {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			t.Errorf("%s: %v", svc, err)
			continue
		}
		sd := d.(protoreflect.ServiceDescriptor)
		if got := sd.Methods().Len(); got != len(methods) {
			t.Errorf("%s: %d methods, want %d", svc, got, len(methods))
		}
		for _, m := range methods {
			md := sd.Methods().ByName(protoreflect.Name(m.name))
			if md == nil {
				t.Errorf("%s: no method %s", svc, m.name)
				continue
			}
			if md.IsStreamingClient() != m.clientStream || md.IsStreamingServer() != m.server {
				t.Errorf("%s.%s: streaming client=%v server=%v, want %v %v", svc, m.name,
					md.IsStreamingClient(), md.IsStreamingServer(), m.clientStream, m.server)
			}
		}
	}
}
