package node

import (
	"context"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/blob"
)

// ContributorService: unauthenticated; authorised by proofs, invite tokens
// and revocation tokens.

// contributorService is ContributorService: unauthenticated, authorised by
// proofs, invite tokens and revocation tokens.
type contributorService struct {
	cohortv1.UnimplementedContributorServiceServer
	n *Node
}

// ListDatasets lists the node's datasets to anyone.
func (s *contributorService) ListDatasets(ctx context.Context, req *cohortv1.ContributorServiceListDatasetsRequest) (*cohortv1.ContributorServiceListDatasetsResponse, error) {
	ds, next, err := s.n.listDatasets(ctx, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &cohortv1.ContributorServiceListDatasetsResponse{Datasets: ds, NextPageToken: next}, nil
}

func (s *contributorService) GetDataset(ctx context.Context, req *cohortv1.GetDatasetRequest) (*cohortv1.GetDatasetResponse, error) {
	d, err := s.n.datasets.descriptor(ctx, req.GetDatasetId())
	if err != nil {
		return nil, err
	}
	return &cohortv1.GetDatasetResponse{Dataset: d}, nil
}

func (s *contributorService) GetProvingKey(req *cohortv1.GetProvingKeyRequest, stream cohortv1.ContributorService_GetProvingKeyServer) error {
	ctx := stream.Context()
	if _, err := s.n.readyDescriptor(ctx, req.GetDatasetId()); err != nil {
		return err
	}
	pk, release, err := s.n.blobs.get(ctx, "proving-key/"+req.GetDatasetId(), func(ctx context.Context) ([]byte, any, error) {
		keys, err := s.n.store.GetDatasetKeys(ctx, req.GetDatasetId())
		if err != nil {
			return nil, nil, s.n.internal("read proving key", err)
		}
		return keys.ProvingKey, nil, nil
	})
	if err != nil {
		return err
	}
	defer release()
	if err := stream.Send(&cohortv1.GetProvingKeyResponse{Part: &cohortv1.GetProvingKeyResponse_Header{Header: pk.header()}}); err != nil {
		return err
	}
	return blob.Send(pk.data, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.GetProvingKeyResponse{Part: &cohortv1.GetProvingKeyResponse_Chunk{Chunk: c}})
	})
}

func (s *contributorService) Register(ctx context.Context, req *cohortv1.RegisterRequest) (*cohortv1.RegisterResponse, error) {
	var (
		resp *cohortv1.ProposeRegistrationResponse
		err  error
	)
	if s.n.opts.Index == s.n.opts.Sequencer {
		resp, err = s.n.registry.register(ctx, req.GetIdentityCommitment(), req.GetInviteToken())
	} else {
		if _, err := fieldBytes(req.GetIdentityCommitment(), "identity_commitment"); err != nil {
			return nil, err
		}
		resp, err = call(ctx, s.n, s.n.opts.Sequencer, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.ProposeRegistrationResponse, error) {
			return c.ProposeRegistration(ctx, &cohortv1.ProposeRegistrationRequest{IdentityCommitment: req.GetIdentityCommitment(), InviteToken: req.GetInviteToken()})
		})
		if code := status.Code(err); code == codes.DeadlineExceeded || code == codes.Unavailable {
			return nil, status.Errorf(codes.Unavailable, "the registry sequencer (node %d) is unreachable: %s", s.n.opts.Sequencer, status.Convert(err).Message())
		}
	}
	if err != nil {
		return nil, err
	}
	return &cohortv1.RegisterResponse{MemberIndex: resp.GetMemberIndex(), Root: resp.GetRoot(), Sequence: resp.GetSequence()}, nil
}

func (s *contributorService) GetMembershipPath(ctx context.Context, req *cohortv1.GetMembershipPathRequest) (*cohortv1.GetMembershipPathResponse, error) {
	return s.n.registry.path(ctx, req.GetMemberIndex())
}

func (s *contributorService) Contribute(ctx context.Context, req *cohortv1.ContributeRequest) (*cohortv1.ContributeResponse, error) {
	r, err := s.n.contribute(ctx, req.GetDatasetId(), req.GetPayload())
	if err != nil {
		return nil, err
	}
	return &cohortv1.ContributeResponse{Receipt: r}, nil
}

func (s *contributorService) Revoke(ctx context.Context, req *cohortv1.RevokeRequest) (*cohortv1.RevokeResponse, error) {
	return s.n.revoke(ctx, req.GetDatasetId(), req.GetRevocationToken())
}

func (s *contributorService) GetReceipt(ctx context.Context, req *cohortv1.GetReceiptRequest) (*cohortv1.GetReceiptResponse, error) {
	nf, err := fieldBytes(req.GetNullifier(), "nullifier")
	if err != nil {
		return nil, err
	}
	r, err := s.n.receiptOf(ctx, req.GetDatasetId(), nf.Bytes())
	if err != nil {
		return nil, err
	}
	return &cohortv1.GetReceiptResponse{Receipt: r}, nil
}
