package federation

import "errors"

// Sentinel errors. Every error this package returns that a caller may branch
// on wraps one of these; test with errors.Is.
var (
	// ErrInvalid reports a federation descriptor, node configuration or
	// init option that fails validation: a missing or unknown field, a value
	// out of range, an address that is not host:port, a key that does not
	// decode.
	ErrInvalid = errors.New("invalid federation configuration")

	// ErrInsecureKeyFile reports a secret file (a private key) that group or
	// others may read. The fix is chmod 600.
	ErrInsecureKeyFile = errors.New("key file readable by group or others")

	// ErrKeyMismatch reports key material that does not belong to the node
	// the configuration says it is: a signing or seal key whose public half
	// is not the one in the descriptor, a certificate not issued by the
	// federation CA or naming another node.
	ErrKeyMismatch = errors.New("key material does not match the federation descriptor")

	// ErrInsecureDevSetup reports a federation that relies on a development
	// shortcut (open admission) loaded by a node whose configuration does not
	// set allow_insecure_dev_setup, or created without AllowInsecureDevSetup.
	ErrInsecureDevSetup = errors.New("insecure development setup not allowed")

	// ErrNotEmpty reports an Init target directory that already holds files
	// (without Force), or a node data directory that holds a store (always).
	ErrNotEmpty = errors.New("directory not empty")

	// ErrBadRequest reports a node request (node-request.yaml) whose
	// signature does not verify under the signing key it names: it was
	// altered after the node signed it.
	ErrBadRequest = errors.New("node request signature does not verify")

	// ErrPeerIdentity reports a TLS peer whose verified certificate does not
	// carry the expected node identity: none at all, another federation's, an
	// index outside the federation, or another node than the one dialled.
	ErrPeerIdentity = errors.New("peer identity mismatch")
)

// ErrNotAnchored reports a dataset descriptor whose nodes are not this
// federation's: another node count, or a node whose seal or signing key is
// not the one federation.yaml names. Whoever served it may hold the keys it
// names; nothing may be sealed to them nor any signature checked with them.
var ErrNotAnchored = errors.New("dataset descriptor does not match the pinned federation")
