package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// Stages of Contribute, in order, as passed to ContributeOptions.Progress.
const (
	StageDataset        = "dataset"         // fetching the descriptor
	StageCircuit        = "circuit"         // compiling the circuit, checking its digest
	StageProvingKey     = "proving key"     // fetching (done, total in bytes) or loading the proving key
	StageMembershipPath = "membership path" // fetching and checking the registry path
	StageProving        = "proving"         // sharing, proving, sealing, verifying locally
	StageUploading      = "uploading"       // the Contribute call and the receipt check
)

// ContributeOptions describe one contribution.
type ContributeOptions struct {
	// DatasetID names the dataset. It may be left empty when Dataset is set.
	DatasetID string
	// Dataset is the dataset's descriptor as Client.Dataset returned it, to
	// save fetching it again (a caller that parsed the record with its
	// schema has it); nil to fetch it.
	Dataset *dataset.Dataset
	// Epoch the record counts for, numbered as the schema's epoch period
	// (schema.EpochPeriod.Index); below 2^32.
	Epoch uint64
	// Record is the contributor's record, checked by the dataset's schema.
	Record schema.Record
	// Purposes the record may be used for: at least one, each among the
	// schema's purposes.
	Purposes []string
	// Expiry is the last instant the record may be used; after now and
	// before 2^40 Unix seconds. Whole seconds count.
	Expiry time.Time
	// MinCohort is the smallest cohort the contributor accepts to be part
	// of; a job whose cohort is smaller does not count the record. The
	// dataset's own minimum applies in any case.
	MinCohort uint32
	// CacheDir keeps the proving key between contributions ("" for none);
	// see Client.ProvingKey.
	CacheDir string
	// Progress, if set, is called at the start (done = 0) and the end
	// (done = total) of each stage, and as the proving key arrives (done
	// and total in bytes; done = total once the key is decoded and checked).
	Progress func(stage string, done, total int)
}

// Contribute builds, proves and uploads one record, then checks its receipt.
//
// The client must pin the federation (WithFederation; ErrNoFederation
// otherwise), and the dataset's nodes must be the federation's
// (federation.ErrNotAnchored): the shares are sealed to, and the receipt
// checked with, keys the federation vouches for, not keys the node serving
// the descriptor chose. In order: the dataset must be READY; the record is encoded by its schema
// and the terms checked (purposes, expiry, epoch); the circuit is compiled
// and must have the descriptor's digest; the proving key is fetched and
// checked (Client.ProvingKey); the identity's membership path is fetched and
// must lead from its commitment to the root the node names; the record is
// proven and protected as the dataset's backend does it (backend.Contributor:
// one additive share sealed to each node, or a ciphertext under the
// collective key); the proof is verified locally under the dataset's
// verifying key, so a bad proving key is caught before anything is sent;
// the payload is uploaded. The receipt must then name this record (its
// nullifier, the SHA-256 of the payload bytes, the epoch and registry root
// used) and carry a valid acknowledgment from every node (VerifyReceipt). If
// it does not, Contribute fails with ErrBadReceipt, although the nodes may
// have stored the record: look it up with Client.Receipt.
//
// The dataset's setup kind is not checked here: a caller shows an
// INSECURE_DEV setup (ds.Desc.SetupKind) to its user. A refusal by the node
// is an *RPCError; for AlreadyExists, ExistingReceipt returns the receipt of
// the record already accepted for this nullifier.
func (c *Client) Contribute(ctx context.Context, id *Identity, o ContributeOptions) (*cohortv1.Receipt, error) {
	if id.Member == nil {
		return nil, ErrNotRegistered
	}
	if c.anchor == nil {
		return nil, ErrNoFederation
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}
	stage := func(name string, f func() error) error {
		progress(name, 0, 1)
		if err := f(); err != nil {
			return err
		}
		progress(name, 1, 1)
		return nil
	}

	ds := o.Dataset
	if ds == nil {
		err := stage(StageDataset, func() (err error) {
			ds, err = c.Dataset(ctx, o.DatasetID)
			return err
		})
		if err != nil {
			return nil, err
		}
	} else if o.DatasetID != "" && o.DatasetID != ds.Desc.GetId() {
		return nil, fmt.Errorf("%w: options name dataset %q and carry %q", ErrInvalidOptions, o.DatasetID, ds.Desc.GetId())
	} else if err := c.checkAnchor(ds); err != nil {
		return nil, err
	}
	dsID := ds.Desc.GetId()
	if !ds.Ready() {
		return nil, fmt.Errorf("%w: %s is %s", ErrDatasetNotReady, dsID, ds.Desc.GetState())
	}
	record, terms, err := checkTerms(ds, o, time.Now())
	if err != nil {
		return nil, err
	}
	be, err := backend.For(ds)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}

	// Compiling checks the circuit against the descriptor's digest (and,
	// for HE, builds in the collective key the record is encrypted under).
	if err := stage(StageCircuit, func() (err error) { _, err = ds.CCS(); return err }); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	pk, err := c.provingKey(ctx, ds, o.CacheDir, true, func(done, total int) { progress(StageProvingKey, done, total) })
	if err != nil {
		return nil, err
	}
	member := circuits.Contribution{Secret: id.Secret, Terms: terms, Record: record}
	err = stage(StageMembershipPath, func() (err error) {
		member.Path, member.Root, err = c.membershipPath(ctx, id.ic(), id.Member.Index, int(ds.Desc.GetRegistryDepth()))
		return err
	})
	if err != nil {
		return nil, err
	}

	var wire []byte
	err = stage(StageProving, func() error {
		st, enc, err := be.Prove(pk, member)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		v, err := circuits.NewVerifier(ds.VK, ds.NumPublic())
		if err != nil {
			return fmt.Errorf("%w: %w", ErrProvingKey, err)
		}
		if err := v.Verify(st); err != nil {
			return fmt.Errorf("%w: the proof does not verify under the dataset's verifying key; nothing was sent: %w", ErrProvingKey, err)
		}
		wire = enc
		return nil
	})
	if err != nil {
		return nil, err
	}

	var receipt *cohortv1.Receipt
	nullifier := id.Nullifier(dsID, terms.Epoch)
	digest := sha256.Sum256(wire)
	root := member.Root.Bytes()
	err = stage(StageUploading, func() error {
		resp, err := c.upload(ctx, &cohortv1.ContributeRequest{DatasetId: dsID, Payload: wire})
		if err != nil {
			return err
		}
		receipt = resp.GetReceipt()
		if err := checkContributionReceipt(ds, receipt, nullifier, digest, terms.Epoch, root); err != nil {
			return fmt.Errorf("%w; the nodes may still have stored the record: look up nullifier %x", err, nullifier)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return receipt, nil
}

// checkTerms encodes the record and builds the consent terms, refusing what
// the circuit would refuse or what could never count.
func checkTerms(ds *dataset.Dataset, o ContributeOptions, now time.Time) ([]uint64, circuits.Terms, error) {
	s := ds.Schema
	record, err := s.Encode(o.Record)
	if err != nil {
		return nil, circuits.Terms{}, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	mask, err := s.PurposeMask(o.Purposes)
	if err != nil {
		return nil, circuits.Terms{}, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if mask == 0 {
		return nil, circuits.Terms{}, fmt.Errorf("%w: no purpose: consent to at least one of %v", ErrInvalidOptions, s.Purposes)
	}
	exp := o.Expiry.Unix()
	if !o.Expiry.After(now) || exp >= 1<<circuits.ExpiryBits {
		return nil, circuits.Terms{}, fmt.Errorf("%w: expiry %s is not between now and 2^%d Unix seconds", ErrInvalidOptions, o.Expiry.UTC().Format(time.RFC3339), circuits.ExpiryBits)
	}
	if o.Epoch >= 1<<circuits.EpochBits {
		return nil, circuits.Terms{}, fmt.Errorf("%w: epoch %d is not below 2^%d", ErrInvalidOptions, o.Epoch, circuits.EpochBits)
	}
	return record, circuits.Terms{
		Dataset:   circuits.DatasetField(ds.Desc.GetId()),
		Epoch:     o.Epoch,
		Purposes:  mask,
		Expiry:    uint64(exp),
		MinCohort: o.MinCohort,
	}, nil
}

// checkContributionReceipt checks a fresh receipt: VerifyReceipt, then that
// it is for this very payload, epoch and registry root, and accepted.
func checkContributionReceipt(ds *dataset.Dataset, r *cohortv1.Receipt, nullifier, digest [32]byte, epoch uint64, root [32]byte) error {
	if err := VerifyReceipt(ds, r, nullifier); err != nil {
		return err
	}
	switch {
	case !bytes.Equal(r.GetPayloadDigest(), digest[:]):
		return fmt.Errorf("%w: receipt for payload %x, uploaded %x", ErrBadReceipt, r.GetPayloadDigest(), digest)
	case r.GetEpoch() != epoch:
		return fmt.Errorf("%w: receipt for epoch %d, want %d", ErrBadReceipt, r.GetEpoch(), epoch)
	case !bytes.Equal(r.GetRegistryRoot(), root[:]):
		return fmt.Errorf("%w: receipt names registry root %x, the proof used %x", ErrBadReceipt, r.GetRegistryRoot(), root)
	case r.GetStatus() != cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED:
		return fmt.Errorf("%w: status %s", ErrBadReceipt, r.GetStatus())
	}
	return nil
}
