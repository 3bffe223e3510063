package audit

import "encoding/binary"

// TagTranscriptSignature is the domain tag of TranscriptStatement.
const TagTranscriptSignature = "cohort/v1/job-transcript-signature"

// TranscriptStatement is a node's statement that a job's transcript, named
// by its digest, is the true record of the job as the node took part in
// it. Signed with attest.Sign and checked with attest.Verify.
type TranscriptStatement struct {
	JobID  string
	Digest [32]byte // Transcript.Digest
	Node   uint32
}

// Message returns the bytes a node signs, laid out as package attest lays
// out its statements:
//
//	"cohort/v1/job-transcript-signature" ‖ 0x00 ‖ u32 len(job id) ‖ job id ‖ digest ‖ u32 node
//
// (integers big-endian). The tag keeps a signature over a transcript from
// verifying as any other statement, and the encoding is injective.
func (s TranscriptStatement) Message() []byte {
	b := make([]byte, 0, len(TagTranscriptSignature)+1+4+len(s.JobID)+32+4)
	b = append(b, TagTranscriptSignature...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.JobID)))
	b = append(b, s.JobID...)
	b = append(b, s.Digest[:]...)
	return binary.BigEndian.AppendUint32(b, s.Node)
}
