package clienttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
)

func (f *Federation) checkDataset(id string) error {
	if id != f.Dataset.Desc.GetId() {
		return status.Errorf(codes.NotFound, "no dataset %q", id)
	}
	return nil
}

// GetDataset implements cohortv1.ContributorServiceServer.
func (f *Federation) GetDataset(_ context.Context, req *cohortv1.GetDatasetRequest) (*cohortv1.GetDatasetResponse, error) {
	if err := f.checkDataset(req.GetDatasetId()); err != nil {
		return nil, err
	}
	d := proto.CloneOf(f.Dataset.Desc)
	f.mu.Lock()
	h := f.hooks.Dataset
	f.mu.Unlock()
	if h != nil {
		h(d)
	}
	return &cohortv1.GetDatasetResponse{Dataset: d}, nil
}

// GetProvingKey implements cohortv1.ContributorServiceServer.
func (f *Federation) GetProvingKey(req *cohortv1.GetProvingKeyRequest, stream grpc.ServerStreamingServer[cohortv1.GetProvingKeyResponse]) error {
	if err := f.checkDataset(req.GetDatasetId()); err != nil {
		return err
	}
	f.mu.Lock()
	hook := f.hooks.ProvingKeyStream
	f.mu.Unlock()
	msgs := f.provingKeyStream()
	if hook != nil {
		msgs = hook(bytes.Clone(f.ProvingKey))
	}
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			return err
		}
		if m.GetChunk() != nil {
			f.mu.Lock()
			f.chunksSent++
			f.mu.Unlock()
		}
	}
	return nil
}

// provingKeyStream is the honest stream: a header, then chunks.
func (f *Federation) provingKeyStream() []*cohortv1.GetProvingKeyResponse {
	sum := sha256.Sum256(f.ProvingKey)
	msgs := []*cohortv1.GetProvingKeyResponse{{Part: &cohortv1.GetProvingKeyResponse_Header{
		Header: &cohortv1.BlobHeader{TotalSize: uint64(len(f.ProvingKey)), Sha256: sum[:]},
	}}}
	for off := 0; off < len(f.ProvingKey); off += f.chunk {
		end := min(off+f.chunk, len(f.ProvingKey))
		msgs = append(msgs, &cohortv1.GetProvingKeyResponse{Part: &cohortv1.GetProvingKeyResponse_Chunk{
			Chunk: &cohortv1.Chunk{Offset: uint64(off), Data: f.ProvingKey[off:end]},
		}})
	}
	return msgs
}

func element(b []byte) (fr.Element, error) {
	var e fr.Element
	if len(b) != fr.Bytes {
		return e, status.Errorf(codes.InvalidArgument, "field element of %d bytes", len(b))
	}
	if err := e.SetBytesCanonical(b); err != nil {
		return e, status.Error(codes.InvalidArgument, "field element not canonical")
	}
	return e, nil
}

func elementBytes(e fr.Element) []byte { b := e.Bytes(); return b[:] }

// Register implements cohortv1.ContributorServiceServer.
func (f *Federation) Register(_ context.Context, req *cohortv1.RegisterRequest) (*cohortv1.RegisterResponse, error) {
	ic, err := element(req.GetIdentityCommitment())
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.members[ic]; ok {
		return &cohortv1.RegisterResponse{MemberIndex: i, Root: elementBytes(f.tree.Root()), Sequence: f.sequence}, nil
	}
	if !f.invites[req.GetInviteToken()] {
		return nil, status.Error(codes.PermissionDenied, "unknown, used or expired invite token")
	}
	delete(f.invites, req.GetInviteToken())
	i, err := f.appendLocked(ic)
	if err != nil {
		return nil, status.Errorf(codes.ResourceExhausted, "registry: %v", err)
	}
	return &cohortv1.RegisterResponse{MemberIndex: i, Root: elementBytes(f.tree.Root()), Sequence: f.sequence}, nil
}

// GetMembershipPath implements cohortv1.ContributorServiceServer.
func (f *Federation) GetMembershipPath(_ context.Context, req *cohortv1.GetMembershipPathRequest) (*cohortv1.GetMembershipPathResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.tree.Path(req.GetMemberIndex())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "registry position %d is empty", req.GetMemberIndex())
	}
	resp := &cohortv1.GetMembershipPathResponse{Root: elementBytes(f.tree.Root()), Sequence: f.sequence}
	for _, s := range p.Siblings {
		resp.Siblings = append(resp.Siblings, elementBytes(s))
	}
	if f.hooks.MembershipPath != nil {
		f.hooks.MembershipPath(resp)
	}
	return resp, nil
}

// Contribute implements cohortv1.ContributorServiceServer: it checks the
// payload as every node would, then acknowledges it in every node's name.
func (f *Federation) Contribute(_ context.Context, req *cohortv1.ContributeRequest) (*cohortv1.ContributeResponse, error) {
	if err := f.checkDataset(req.GetDatasetId()); err != nil {
		return nil, err
	}
	ds := f.Dataset
	lim := ds.PayloadLimits()
	p, err := mpc.UnmarshalPayload(req.GetPayload(), lim)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "payload: %v", err)
	}
	if want := circuits.DatasetField(ds.Desc.GetId()); !p.Public.Dataset.Equal(&want) {
		return nil, status.Error(codes.InvalidArgument, "payload is for another dataset")
	}
	if f.verifier == nil {
		return nil, status.Error(codes.FailedPrecondition, "this fake federation was started without proving keys")
	}
	if err := f.verifier.Verify(p.Statement()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "proof: %v", err)
	}
	if p.Public.Expiry <= uint64(time.Now().Unix()) {
		return nil, status.Error(codes.FailedPrecondition, "consent expired")
	}
	shares := make([]mpc.Share, len(f.Seal))
	for j, key := range f.Seal {
		if shares[j], err = mpc.OpenPayload(key, j, lim.Len, p); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "node %d: share: %v", j, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.roots[p.Public.Root] {
		return nil, status.Error(codes.FailedPrecondition, "unknown registry root")
	}
	nf := p.Public.Nullifier.Bytes()
	for _, a := range f.accepted {
		if bytes.Equal(a.Receipt.GetNullifier(), nf[:]) {
			st, err := status.New(codes.AlreadyExists, "nullifier already accepted").WithDetails(a.Receipt)
			if err != nil {
				return nil, status.Errorf(codes.Internal, "%v", err)
			}
			return nil, st.Err()
		}
	}
	digest := sha256.Sum256(req.GetPayload())
	now := time.Now().Unix()
	r := &cohortv1.Receipt{
		DatasetId:     ds.Desc.GetId(),
		Epoch:         p.Public.Epoch,
		Nullifier:     nf[:],
		PayloadDigest: digest[:],
		RegistryRoot:  elementBytes(p.Public.Root),
		Status:        cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED,
		AcceptedAt:    now,
	}
	for j := range f.Signing {
		st := attest.ContributionAck{DatasetID: r.DatasetId, Nullifier: nf, PayloadDigest: digest, Node: uint32(j), StoredAt: now}
		r.Acks = append(r.Acks, &cohortv1.ContributionAck{
			DatasetId: r.DatasetId, Nullifier: nf[:], PayloadDigest: digest[:], StoredAt: now,
			Signature: f.sign(j, st.Message()),
		})
	}
	f.accepted = append(f.accepted, &Accepted{Request: req, Payload: p, Shares: shares, Receipt: r})
	out := proto.CloneOf(r)
	if f.hooks.Receipt != nil {
		f.hooks.Receipt(out)
	}
	return &cohortv1.ContributeResponse{Receipt: out}, nil
}

// Revoke implements cohortv1.ContributorServiceServer.
func (f *Federation) Revoke(_ context.Context, req *cohortv1.RevokeRequest) (*cohortv1.RevokeResponse, error) {
	if err := f.checkDataset(req.GetDatasetId()); err != nil {
		return nil, err
	}
	rt, err := element(req.GetRevocationToken())
	if err != nil {
		return nil, err
	}
	rc := circuits.RevocationCommitmentOf(rt)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.accepted {
		if !a.Payload.Public.Revocation.Equal(&rc) {
			continue
		}
		if a.RevokedAt == 0 {
			a.RevokedAt = time.Now().Unix()
			a.Receipt.Status = cohortv1.ReceiptStatus_RECEIPT_STATUS_REVOKED
			a.Receipt.RevokedAt = a.RevokedAt
		}
		nf := a.Payload.Public.Nullifier.Bytes()
		resp := &cohortv1.RevokeResponse{Nullifier: nf[:], RevokedAt: a.RevokedAt}
		st := attest.Revocation{DatasetID: req.GetDatasetId(), Nullifier: nf, RevokedAt: a.RevokedAt}
		for j := range f.Signing {
			resp.Signatures = append(resp.Signatures, f.sign(j, st.Message()))
		}
		if f.hooks.Revocation != nil {
			f.hooks.Revocation(resp)
		}
		return resp, nil
	}
	return nil, status.Error(codes.NotFound, "no record has this revocation commitment")
}

// GetReceipt implements cohortv1.ContributorServiceServer.
func (f *Federation) GetReceipt(_ context.Context, req *cohortv1.GetReceiptRequest) (*cohortv1.GetReceiptResponse, error) {
	if err := f.checkDataset(req.GetDatasetId()); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.accepted {
		if bytes.Equal(a.Receipt.GetNullifier(), req.GetNullifier()) {
			out := proto.CloneOf(a.Receipt)
			if f.hooks.Receipt != nil {
				f.hooks.Receipt(out)
			}
			return &cohortv1.GetReceiptResponse{Receipt: out}, nil
		}
	}
	return nil, status.Error(codes.NotFound, "unknown nullifier")
}
