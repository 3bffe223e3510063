package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/circuits"
)

// CountedRecord is one of an identity's records that a released job
// counted, as found in the job's published transcript.
type CountedRecord struct {
	// TranscriptID names the job's transcript (and the job): pass it to
	// Transcript, or to `cohort audit fetch --job`.
	TranscriptID string
	// ReleasedAt is when the job's result was released, as the node lists
	// it.
	ReleasedAt time.Time
	// CohortSize is the number of records the job counted.
	CohortSize uint64
	// Epoch is the epoch of the identity's record: a job over several
	// epochs may count one record of the identity per epoch, each its own
	// CountedRecord.
	Epoch uint64
}

// MyJobs is what Client.MyJobs found.
type MyJobs struct {
	// Searched is the number of released transcripts of the dataset on
	// the node, all of which were searched.
	Searched int
	// Counted are the identity's records the released jobs counted, in
	// the node's order of the transcripts (newest first), then in the
	// transcript's order of records.
	Counted []CountedRecord
}

// MyJobs finds the released jobs on dataset datasetID that counted id's
// records. It downloads every transcript of the dataset the node publishes
// (Transcripts, Transcript) and looks for the identity's nullifiers
// locally, one per epoch a record names, so the node learns only that
// someone fetched its transcripts, not whose records were looked for. The
// secret never leaves the process.
//
// It checks each bundle's structure (audit.UnmarshalBundle), not its
// signatures or proofs: a node could hide a job from this list or list one
// that did not happen; audit.Verify on the bundle says whether the job is
// true. A malformed bundle or record fails the whole search with an error
// naming the transcript.
func (c *Client) MyJobs(ctx context.Context, id *Identity, datasetID string) (*MyJobs, error) {
	if id == nil {
		return nil, errors.New("client: my jobs: no identity")
	}
	list, err := c.Transcripts(ctx, datasetID)
	if err != nil {
		return nil, err
	}
	out := &MyJobs{Searched: len(list)}
	for _, info := range list {
		b, err := c.TranscriptWithoutCeremony(ctx, info.GetTranscriptId())
		if err != nil {
			return nil, err
		}
		epochs, err := countedEpochs(b, id, datasetID)
		if err != nil {
			return nil, fmt.Errorf("transcript %s: %w", info.GetTranscriptId(), err)
		}
		for _, e := range epochs {
			out.Counted = append(out.Counted, CountedRecord{
				TranscriptID: info.GetTranscriptId(),
				ReleasedAt:   info.GetReleasedAt().AsTime(),
				CohortSize:   info.GetCohortSize(),
				Epoch:        e,
			})
		}
	}
	return out, nil
}

// countedEpochs decodes a transcript bundle and returns the epochs of the
// records in it whose nullifier is id's for that epoch of datasetID.
func countedEpochs(bundle []byte, id *Identity, datasetID string) ([]uint64, error) {
	b, err := audit.UnmarshalBundle(bundle, audit.DefaultLimits())
	if err != nil {
		return nil, err
	}
	return countedEpochsOf(b, id, datasetID)
}

// countedEpochsOf returns the epochs of the records of a decoded bundle
// whose nullifier is id's for that epoch of datasetID.
func countedEpochsOf(b *audit.Bundle, id *Identity, datasetID string) ([]uint64, error) {
	var epochs []uint64
	for _, r := range b.Transcript.Records {
		var pub circuits.PublicInputs
		if err := pub.UnmarshalBinary(r.Public); err != nil {
			return nil, err
		}
		if r.Nullifier == id.Nullifier(datasetID, pub.Epoch) {
			epochs = append(epochs, pub.Epoch)
		}
	}
	return epochs, nil
}
