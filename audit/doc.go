// Package audit makes a released job checkable offline by anyone, without
// trusting the nodes that ran it (docs/design.md §2, "anyone can audit"). The
// coordinating node records each finished job in a Transcript; the nodes
// that took part sign the transcript's digest (for MPC every node, for HE
// the live nodes); the transcript, the signatures and the dataset's public
// setup travel together as a Bundle; Verify re-checks all of it from the
// bundle alone and reports each check by name. Both backends are covered:
// MPC (additive shares, docs/design.md §4.2) and HE (threshold BGV, §4.3).
//
// # The transcript
//
// A Transcript holds: the job id, dataset id, the buyer charged (empty
// for an exact release) and the coordinator; the spec
// (its deterministic protobuf bytes, whose digest the nodes signed) and
// the job time; the digest of the dataset's descriptor; every counted
// record, sorted by nullifier — nullifier, payload digest, encoded public
// inputs and encoded Groth16 proof (everything else about a record, its
// epoch, purposes, expiry, registry root and its contributor's minimum
// cohort, is read from the public inputs the proof binds, so nothing is
// stated twice); each node's evidence — eligible and counted records, set
// digest, exclusion counts by reason, its signature over
// attest.JobEligibleSet, its partial sum over the cohort and its signature
// over attest.JobPartial, and, when the release was noised, its signed
// debit of its own privacy ledger (cohortv1.PrivacyDebit, attest.PrivacyDebit:
// the buyer, ρ, and per epoch of the job the epoch's and the buyer's
// budget with what was spent before and after); the released sums by
// coordinate, signed integers (noise can make a sum negative; the count
// at coordinate 0 takes none); the released
// result (protobuf, transcript id left out); the effective minimum cohort;
// and the registry root history the records' roots must be in. It names
// no excluded record: exclusions are counts. The partial sums are
// additive shares of the released sums (random on their own, any k−1 of
// them independent of the data), so they reveal nothing the sums do not;
// they are what binds the released sums to the nodes' signatures.
//
// An HE job's transcript differs in four places. Each record also carries
// its ciphertext (the canonical he.Ciphertext encoding every node stored;
// the proof's public inputs are its coefficients). Only the live nodes
// have evidence: those that selected the cohort and signed it, at least
// the dataset's threshold t, the coordinator among them; a node that did
// not answer is absent. The transcript names the decryption set D — the t
// lowest live indices — and the aggregate ciphertext, the homomorphic sum
// of the records' ciphertexts that D decrypted. The nodes of D, and only
// they, carry a partial: their decryption share of the aggregate at the
// released coordinates (he.PartialDecryption: the share's coefficients
// there, flooded with smudging noise, naming the aggregate's digest and
// D), signed as attest.JobPartial like an MPC partial. A transcript is HE
// exactly when it has a decryption set (Transcript.Backend).
//
// The encoding is this package's own, length-prefixed and big-endian
// (laid out in transcript.go and bundle.go), not protobuf, whose
// deterministic mode is not canonical; this is version 4 (version 2
// added the HE fields, version 3 the buyer, the debits and signed sums,
// version 4 the buyer's signed submission; earlier versions are no
// longer read). Decoders check every length
// and count against Limits and against the bytes left before allocating
// (a ciphertext against Limits.MaxCiphertextBytes and the largest
// parameter set's he.EncodedSize), refuse trailing bytes, and accept only
// the canonical encoding of a well-formed value (records in strictly
// increasing nullifier order, nodes by ascending index — every node 0..k−1
// for MPC —, a partial and its signature together, for HE exactly for the
// nodes of D, D ascending among the listed nodes, every record's
// ciphertext of the aggregate's size and none for MPC, sums by coordinate
// as a sign byte (0 or 1) and a minimal big-endian magnitude, never a
// negative zero, a debit only beside a partial, with 1..enclave.MaxJobEpochs
// entries, amounts of at most MaxAmountLen bytes and its node's Ed25519
// signature, roots by version, ids in their alphabets), so that decoding and encoding are inverse and each
// transcript has exactly one encoding. Digest is SHA-256
// over "cohort/v1/job-transcript", a NUL byte and the encoding; nodes sign
// it as a TranscriptStatement (domain "cohort/v1/job-transcript-signature",
// laid out as package attest lays out its statements).
//
// Sizes: 76 + (158 + 32·k) + 194 bytes per record (524 for k = 3 nodes:
// public inputs, proof, nullifier and payload digest), about 240 + 32 per
// released coordinate per node (an Ed25519 pair and the partial sum), 56
// per registry root, plus the spec and the result (a few hundred bytes
// each); a noised release adds each debit, about 150 bytes and 70 per
// epoch of the job. The MPC job of this package's tests — five records, three nodes,
// twelve outputs over 21 coordinates — has a 7 KB transcript and a 14 KB
// bundle with a development setup; a ceremony transcript adds
// p·(192·N + 32·N) bytes or so for p contributions over a domain of N
// (2 MB for one contribution per phase at N = 2^13). An HE record adds its
// ciphertext, he.EncodedSize: 128 KiB at N = 4096, 512 KiB at N = 8192
// (8 KiB for the toy N = 256 set), and so does the aggregate; a decryption
// share is about 60 + (4 + 8·L)·c bytes for c coordinates and L RNS
// limbs. The ciphertexts dominate: the HE job of the tests (the same five
// records at N = 256) has a 55 KB transcript and a 111 KB bundle (the
// descriptor holds the collective key and a verifying key with 8 + 2N
// public inputs), and a cohort of 1000 at N = 4096 a 131 MB transcript.
//
// # What Verify checks
//
// Each check is named in the report; a failure names the item ("record 7
// (nullifier ab12cd34…): proof does not verify", "node 2: transcript
// signature does not verify", "output 3 (mean of age): released 51.2,
// recomputed 51.3"). Records and nodes are numbered from 0, records in
// nullifier order. CheckNames lists the checks of each backend in order:
// the 18 below for MPC; for HE, ciphertexts before proofs, aggregate,
// decryption-set and decryption in the place of partial-sums (21). The
// checks that belong to one backend (circuit, partial-sums, ciphertexts,
// aggregate, decryption-set, decryption) and the backend's part of the
// shared ones (a record's statement, its share commitments, which nodes
// must sign) come from package backend, chosen from the bundle's
// descriptor (backend.For); the list itself is the transcript's form's
// (backend.AuditSlotsOf), so that a bundle whose descriptor does not
// decode still gets every check, skipped.
//
//	transcript             the transcript and bundle are well formed
//	descriptor             the descriptor decodes, is in its deterministic encoding,
//	                       is consistent (dataset.From) and READY, and its digest is the
//	                       transcript's
//	circuit                the circuit compiled from the descriptor's schema, node count
//	                       and registry depth (HE: schema, registry depth and collective
//	                       key, a circuit constant) has the descriptor's circuit digest
//	verifying-key          the bundle's verifying key is the descriptor's, byte for byte,
//	                       and fits the circuit
//	setup                  CEREMONY: the ceremony transcript is the one the descriptor
//	                       names, re-verifies against the compiled circuit contribution by
//	                       contribution (setup.Transcript.Verify) and yields the
//	                       descriptor's verifying key byte for byte. INSECURE_DEV: see below
//	job-spec               the spec decodes canonically, is for this dataset and is valid
//	                       for its schema (enclave.ValidateSpec), and the buyer's signature
//	                       over it, the dataset and the descriptor digest verifies
//	                       (attest.JobSubmission) under the buyer key the nodes signed
//	ciphertexts            HE: every record's ciphertext decodes under the dataset's
//	                       parameter set (exact size, every coefficient below its
//	                       modulus), and its payload digest is the SHA-256 of the
//	                       heproof payload rebuilt from its public inputs, proof and
//	                       ciphertext: the ciphertext is the one the nodes acknowledged
//	proofs                 every proof verifies against its public inputs, batch-verified
//	                       (circuits.BatchVerifier, bisected to name each bad record); HE: against
//	                       circuits.HEPublicVector of its consent inputs and its
//	                       ciphertext's coefficients
//	record-terms           each record's public inputs: this dataset, epoch in the spec's
//	                       range, the spec's purpose consented, expiry at or after the job
//	                       time, one share commitment per node (HE: none), the listed
//	                       nullifier
//	registry-roots         each record's root is in the root history and was a root by
//	                       the job time
//	nullifiers             no nullifier twice
//	cohort                 the cohort is at least the effective minimum
//	                       (enclave.EffectiveMinimum, recomputed and equal to the
//	                       recorded one) and at least every record's own minimum
//	eligible-sets          every node of the descriptor (HE: every live node listed)
//	                       signed (attest.JobEligibleSet, for this spec's digest and
//	                       job time) a cohort of the listed size whose digest is
//	                       enclave.SetDigest of the listed records, with eligible =
//	                       counted + dropped for contributors' minimums
//	partial-sums           MPC: every node signed (attest.JobPartial) its partial over
//	                       the released coordinates; each counts the cohort; they sum
//	                       to every released sum, read as the centred integer in
//	                       (−r/2, r/2) of their sum in Fr
//	aggregate              HE: the homomorphic sum of the records' ciphertexts (he.Sum)
//	                       equals the transcript's aggregate byte for byte
//	decryption-set         HE: D has t nodes, the t lowest live indices; each signed
//	                       (attest.JobPartial) its decryption share, which decodes and
//	                       is its own, at the released coordinates, for D and of the
//	                       aggregate; no other node has one
//	decryption             HE: he.Combine of D's shares and the aggregate gives every
//	                       released sum, read as the centred integer of its value mod t
//	coordinates            the released coordinates are exactly enclave.Coordinates of the
//	                       spec's outputs, and the count coordinate equals the cohort
//	release-mechanism      the job's release under the dataset's privacy policy
//	                       (enclave.PolicyOf, enclave.JobPrivacy of the spec): the sums
//	                       are ones the mechanism releases (Mechanism.Release). Discrete
//	                       Gaussian: the transcript names the buyer; every node of the
//	                       partial set (MPC: every node; HE: D) carries its debit and
//	                       enclave.Charge.Check passes for it — signed by the node, for
//	                       this job, dataset, buyer and ρ, one entry per epoch of the
//	                       job with the policy's totals, spent after = spent before + ρ,
//	                       within both totals; the result's release states the
//	                       mechanism, ρ, the noising nodes (the partial set's size),
//	                       each sum's per-node variance and total standard deviation
//	                       (Privacy.NoiseStdDev, bit for bit) and enclave.Confidence.
//	                       Exact (EXACT_INSECURE_DEV): no node debited, the result
//	                       states no noise, and the report carries ExactReleaseWarning
//	outputs                the result is for this job, dataset, cohort and backend, was
//	                       released after the job time, and its outputs equal those
//	                       the job's release mechanism computes from the released sums
//	                       (enclave.Mechanism.Outputs with the partial set's size as
//	                       the noising nodes: the exact outputs, or the noisy ones with
//	                       their intervals): exact strings equal, floats bit for bit
//	rewards                the claim root is the root of the nullifier tree of the
//	                       records' nullifiers in record order (ClaimRootOf), and the
//	                       reward per record is the descriptor's price per record when
//	                       a buyer was charged, 0 otherwise (RewardOf)
//	transcript-signatures  every node of the descriptor (HE: every live node listed, at
//	                       least t of them) signed the transcript's digest
//
// Verify runs every check it can, so a report lists every problem; a check
// whose prerequisite failed is reported as skipped, which is not a pass.
// It never panics on any bundle (a panic inside a check, which no input
// should cause, is reported as that check's failure) and never changes the
// bundle. Report.OK is the verdict; the report renders as text and JSON.
//
// # Streaming
//
// A transcript is written and read one record at a time by
// TranscriptWriter and TranscriptReader, in the encoding MarshalBinary
// writes and UnmarshalTranscript reads. VerifyStream verifies a bundle
// from an io.ReaderAt (a file) with the report Verify gives, holding one
// batch of records at a time for an MPC bundle (docs/design.md §7.6).
//
// # Development setups
//
// A dataset whose keys come from a single-party setup (descriptor
// setup_kind INSECURE_DEV) is reported loudly: whoever ran the setup can
// forge proofs for any record, so the proofs vouch for nothing. The setup
// check fails for such a dataset unless the caller passes
// AllowInsecureDevSetup, in which case it passes with status Warn, the text
// report ends "VERIFIED WITH WARNINGS … do not trust this result with real
// data", and the JSON report says "warn" for that check. An HE dataset on
// a parameter set package he marks insecure (the toy sets of its tests) is
// treated alike by the descriptor check.
//
// A job released exactly, under a dataset whose privacy policy is
// EXACT_INSECURE_DEV, passes the release-mechanism check, but its report
// carries ExactReleaseWarning in Report.Warnings (a "WARNING:" line of
// the text before a "VERIFIED WITH WARNINGS" verdict, "warnings" in the
// JSON): its sums carry no noise, so two jobs whose cohorts differ by one
// record reveal that record's values.
//
// # The privacy budget across jobs
//
// One transcript shows that its job's nodes each debited their ledger for
// it; whether a node charged the same ρ to two jobs (a rewritten ledger)
// shows only across transcripts. Ledger takes every transcript of a
// dataset and lays each node's debits side by side, epoch by epoch: a
// debit occupies [spent before, spent after) of the epoch's budget and of
// its buyer's, so no two may overlap, none may pass its total, and
// together they stay within it; every debit must pass
// enclave.Charge.Check, every transcript be signed by the nodes it lists
// and be of one dataset under one policy. Between debits lies ρ charged
// by jobs with no transcript among those given: legitimate (a node's
// charge stands once it released its partial, even if the job then
// failed), and reported per node, epoch and buyer as gaps.
//
// # Trust and limits
//
// An auditor trusts only the dataset's descriptor as the federation
// published it (compare its digest with one obtained independently) and,
// for soundness of the proofs, that one participant of each ceremony phase
// was honest. Against that, the audit detects: a record without a valid
// proof, a record outside the job's terms, a contributor counted twice, a
// cohort below any applicable minimum, a node whose signed cohort or
// partial differs from what is listed, released sums that are not the sum
// of the signed partials, released outputs that are not what the sums
// give, a noised release some node of the partial set did not debit or
// debited beyond its budget, a release stating other noise than the
// policy gives, and any alteration of a signed bundle; Ledger adds a node
// charging the same budget twice across the transcripts it is given.
// What it cannot see: whether the nodes drew their noise at all, or at
// the stated variance (each node's noise is its own secret; with one
// honest node assumed, that node's noise alone protects the release);
// whether a node's ledger recorded the jobs that released nothing (the
// gaps Ledger reports are all it shows of them); whether a counted record
// had been revoked before the job (revocation tokens are not in the
// transcript: only the nodes' signatures attest it); whether
// records that should have been counted were left out (only their counts
// are shown); whether the registry roots were the federation's (the root
// history is attested by the nodes' signatures over the transcript);
// whether the ceremony's beacons were the announced public values; and
// whether the contributors are people rather than identities the
// federation admitted to its own registry (admission is the federation's
// policy, docs/design.md §5.1).
//
// For HE, the audit also shows that every counted ciphertext encrypts a
// valid, consented record under the collective key (the proof binds its
// coefficients), is the one the nodes acknowledged (payload digest), and
// that the aggregate D decrypted is exactly their sum; a share is bound to
// that aggregate and to D (its encoding names both, and the node signed
// its digest), and the released sums are what D's shares decrypt it to.
// It does not prove that a decryption share was computed honestly: there
// is no proof of decryption. A node of D that sends a wrong share, with a
// coordinator that releases whatever the shares combine to, yields
// consistent but wrong sums; like a wrong MPC partial, this is detected
// only when it makes the release inconsistent — a count that is not the
// cohort, a negative sum of an exact release, outputs that do not
// follow — so the sums
// are as good as D's honesty. Nor can it see that the smudging noise was
// drawn at the declared size, or that a node produced one share per
// aggregate (a second share of the same aggregate for another set would
// leak key material; that rule is the nodes', docs/design.md §4.3). Publishing the
// shares is safe under the smudging bound (they reveal the released sums
// and noise); publishing the ciphertexts is not free: every counted
// record's ciphertext is in every bundle, so the records' secrecy rests
// on no t nodes ever pooling their key shares, for as long as bundles
// exist — an MPC transcript carries no per-record data beyond the proofs.
//
// Floats are compared bit for bit because enclave.Release is
// deterministic on one architecture. The Go compiler may fuse a
// multiplication and an addition into one rounding on some architectures
// (arm64 among them, not amd64), so an auditor on such a machine may see
// the inexact outputs (standard deviations, correlations, regressions) of
// an amd64 node differ in their last bits; exact values are unaffected.
//
// Verifying replays the ceremony, which takes tens of seconds for a real
// circuit; a Cache passed with WithCache keeps compiled circuits and
// re-verified ceremonies across calls. Everything here is safe for
// concurrent use; Transcript and Bundle values are plain data.
package audit
