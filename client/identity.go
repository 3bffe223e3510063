package client

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits"
)

// Identity is a contributor's identity: the secret s behind its registry
// entry and, once admitted, where that entry is. Whoever holds s can
// contribute, revoke and link the contributor's records; it never leaves the
// contributor's machine. The fmt verbs print the commitment, never s.
type Identity struct {
	Secret fr.Element
	Member *Membership // nil until registered
}

// Membership is an identity's place in one federation's registry.
type Membership struct {
	// Federation names the federation: the node address the identity was
	// registered through, as given to Dial.
	Federation string
	// Index is the leaf position of the identity commitment.
	Index uint64
	// Root and Sequence are the registry root and update sequence number
	// right after the registration.
	Root     [32]byte
	Sequence uint64
}

// maxRejections bounds the rejection sampling of the secret: each candidate
// is accepted with probability r/2^254 > 3/4, so a working source exhausts it
// with probability below 2^-512.
const maxRejections = 256

// NewIdentity draws a fresh secret uniformly from the non-zero elements of
// Fr, by rejection sampling 254-bit candidates from rnd (nil: crypto/rand).
func NewIdentity(rnd io.Reader) (*Identity, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var buf [fr.Bytes]byte
	defer clear(buf[:])
	for range maxRejections {
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return nil, fmt.Errorf("client: new identity: reading randomness: %w", err)
		}
		buf[0] &= 0x3f // r < 2^254
		s, err := fr.BigEndian.Element(&buf)
		if err != nil || s.IsZero() {
			continue
		}
		return &Identity{Secret: s}, nil
	}
	return nil, fmt.Errorf("client: new identity: the random source returned no value below the field modulus")
}

// Commitment is the identity commitment ic = H(DST_ID, s), 32 bytes
// big-endian: what the registry holds.
func (id *Identity) Commitment() [32]byte {
	ic := id.ic()
	return ic.Bytes()
}

func (id *Identity) ic() fr.Element { return circuits.IdentityCommitment(id.Secret) }

// Nullifier is nf = H(DST_NF, s, dataset, epoch), the public name of the
// identity's record for that dataset and epoch.
func (id *Identity) Nullifier(datasetID string, epoch uint64) [32]byte {
	nf := circuits.NullifierOf(id.Secret, circuits.DatasetField(datasetID), epoch)
	return nf.Bytes()
}

// RevocationToken is rt = H(DST_RT, s, dataset, epoch): revealing it revokes
// the identity's record for that dataset and epoch, and reveals nothing about
// s or the identity's other records.
func (id *Identity) RevocationToken(datasetID string, epoch uint64) [32]byte {
	rt := circuits.RevocationTokenOf(id.Secret, circuits.DatasetField(datasetID), epoch)
	return rt.Bytes()
}

// Format prints the identity by its commitment and membership; it never
// prints the secret, whatever the verb.
func (id Identity) Format(f fmt.State, _ rune) {
	c := id.Commitment()
	fmt.Fprintf(f, "client.Identity{commitment: %s", hex.EncodeToString(c[:]))
	if id.Member != nil {
		fmt.Fprintf(f, ", member %d of %q", id.Member.Index, id.Member.Federation)
	}
	fmt.Fprint(f, "}")
}
