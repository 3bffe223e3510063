package he

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// MaxNodes is the largest committee.
const MaxNodes = 16

// Committee is the set of parties that hold the decryption key: Nodes
// parties, indices 0..Nodes−1 (Shamir points 1..Nodes), any Threshold of
// which can decrypt.
type Committee struct{ Nodes, Threshold int }

// Validate requires 2 ≤ Threshold ≤ Nodes ≤ MaxNodes.
func (c Committee) Validate() error {
	if c.Threshold < 2 || c.Threshold > c.Nodes || c.Nodes > MaxNodes {
		return fmt.Errorf("he: committee %d-of-%d, want 2 ≤ threshold ≤ nodes ≤ %d: %w", c.Threshold, c.Nodes, MaxNodes, ErrInvalidArgument)
	}
	return nil
}

func (c Committee) validParty(i int) error {
	if i < 0 || i >= c.Nodes {
		return fmt.Errorf("he: party %d not in 0..%d: %w", i, c.Nodes-1, ErrInvalidArgument)
	}
	return nil
}

// KeygenParty is one party's side of the collective key generation. It holds
// no secret between Round1 and Finish: Round1 draws the party's n-of-n
// secret s_i, derives from it everything it sends, and erases it.
type KeygenParty struct {
	params    *Params
	committee Committee
	crs       [32]byte
	self      int
	rng       io.Reader
	done      bool
}

// NewKeygenParty prepares party self of committee c. crs is the committee's
// public 32-byte seed, the same for every party; rng is the source of the
// party's secrets (crypto/rand.Reader when nil).
func NewKeygenParty(p *Params, c Committee, crs [32]byte, self int, rng io.Reader) (*KeygenParty, error) {
	if p == nil {
		return nil, fmt.Errorf("he: keygen: nil parameters: %w", ErrInvalidArgument)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := c.validParty(self); err != nil {
		return nil, err
	}
	return &KeygenParty{params: p, committee: c, crs: crs, self: self, rng: rng}, nil
}

// commonPoly derives the public uniform polynomial a of the key from the
// CRS, as mhe.PublicKeyGenProtocol.SampleCRP does, under a PRNG keyed with
// SHA-256(tag ‖ parameter set ‖ crs).
func commonPoly(p *Params, crs [32]byte) (mhe.PublicKeyGenCRP, error) {
	h := sha256.New()
	h.Write([]byte("cohort/he/v1/ckg-crs\x00"))
	h.Write([]byte(p.id))
	h.Write([]byte{0})
	h.Write(crs[:])
	prng, err := sampling.NewKeyedPRNG(h.Sum(nil))
	if err != nil {
		return mhe.PublicKeyGenCRP{}, fmt.Errorf("he: CRS: %w", err)
	}
	crp := p.ringQ.NewPoly()
	ring.NewUniformSampler(prng, p.ringQ).Read(crp)
	return mhe.PublicKeyGenCRP{Value: ringqp.Poly{Q: crp}}, nil
}

func publicKeyShareSize(p *Params) int { return headerSize(p) + 3 + 32 + polySize(p) }
func shamirShareSize(p *Params) int    { return headerSize(p) + 4 + polySize(p) }

// Round1 draws the party's secret s_i (ternary) and returns its public-key
// share −a·s_i + e_i (public; every party needs every share) and a Shamir
// share of s_i for every party j, shares[j] = f_i(j+1) for a random
// polynomial f_i of degree Threshold−1 with f_i(0) = s_i. shares[j] is
// secret: the caller seals it to party j (shares[self] to itself). s_i and
// f_i are erased before Round1 returns. Round1 runs once per KeygenParty.
func (k *KeygenParty) Round1() (pkShare []byte, shares [][]byte, err error) {
	if k.done {
		return nil, nil, fmt.Errorf("he: keygen: Round1 already ran: %w", ErrState)
	}
	k.done = true
	p, rq := k.params, k.params.ringQ
	stream, err := newStream(k.rng)
	if err != nil {
		return nil, nil, err
	}
	crp, err := commonPoly(p, k.crs)
	if err != nil {
		return nil, nil, err
	}

	// s_i, in NTT and Montgomery form as lattigo stores secret keys.
	ternary, err := ring.NewSampler(stream, rq, secretDistribution, false)
	if err != nil {
		return nil, nil, fmt.Errorf("he: keygen: %w", err)
	}
	sk := rq.NewPoly()
	ternary.Read(sk)
	rq.NTT(sk, sk)
	rq.MForm(sk, sk)
	defer zeroPoly(sk)

	// Public-key share: the operations of mhe.PublicKeyGenProtocol.GenShare,
	// with the error drawn from this party's stream.
	gauss, err := ring.NewSampler(stream, rq, errorDistribution, false)
	if err != nil {
		return nil, nil, fmt.Errorf("he: keygen: %w", err)
	}
	share := rq.NewPoly()
	gauss.Read(share)
	rq.NTT(share, share)
	rq.MForm(share, share)
	rq.MulCoeffsMontgomeryThenSub(sk, crp.Value.Q, share)

	pks := publicKeyShare{party: k.self, nodes: k.committee.Nodes, threshold: k.committee.Threshold, crs: k.crs, poly: share}
	if pkShare, err = pks.encode(p); err != nil {
		return nil, nil, fmt.Errorf("he: public-key share: %w", err)
	}

	// Shamir sharing of s_i, as mhe.Thresholdizer does, from this stream.
	f := make([]ring.Poly, k.committee.Threshold)
	f[0] = sk
	uniform := ring.NewUniformSampler(stream, rq)
	for i := 1; i < len(f); i++ {
		f[i] = rq.NewPoly()
		uniform.Read(f[i])
		defer zeroPoly(f[i])
	}
	point := rq.NewPoly()
	defer zeroPoly(point)
	shares = make([][]byte, k.committee.Nodes)
	for j := range shares {
		rq.EvalPolyScalar(f, uint64(j+1), point)
		sh := shamirShare{nodes: k.committee.Nodes, threshold: k.committee.Threshold, from: k.self, to: j, poly: point}
		if shares[j], err = sh.encode(p); err != nil {
			return nil, nil, fmt.Errorf("he: Shamir share: %w", err)
		}
	}
	return pkShare, shares, nil
}

// AggregatePublicKey sums the parties' public-key shares (pkShares[i] from
// party i, all of them) into the collective key (Σ_i (−a·s_i + e_i), a).
// Each share must name its party, this committee and this CRS. It cannot
// tell how a share was chosen: a party that picks its share after seeing
// the others' can make the sum any key it likes, so callers fix every
// share by a commitment before any is revealed (docs/design.md §4.3).
func AggregatePublicKey(p *Params, c Committee, crs [32]byte, pkShares [][]byte) (*PublicKey, error) {
	if p == nil {
		return nil, fmt.Errorf("he: aggregate public key: nil parameters: %w", ErrInvalidArgument)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(pkShares) != c.Nodes {
		return nil, fmt.Errorf("he: aggregate public key: %d shares for %d parties: %w", len(pkShares), c.Nodes, ErrInvalidArgument)
	}
	crp, err := commonPoly(p, crs)
	if err != nil {
		return nil, err
	}
	ckg := mhe.NewPublicKeyGenProtocol(p.bgv)
	sum := mhe.PublicKeyGenShare{Value: ringqp.Poly{Q: p.ringQ.NewPoly()}}
	for i, b := range pkShares {
		s, err := decodePublicKeyShare(p, b)
		if err != nil {
			return nil, fmt.Errorf("he: public-key share of party %d: %w", i, err)
		}
		if s.party != i || s.nodes != c.Nodes || s.threshold != c.Threshold || s.crs != crs {
			return nil, fmt.Errorf("he: public-key share at position %d is party %d's for a %d-of-%d committee or another CRS: %w", i, s.party, s.threshold, s.nodes, ErrMismatch)
		}
		ckg.AggregateShares(sum, mhe.PublicKeyGenShare{Value: ringqp.Poly{Q: s.poly}}, &sum)
	}
	pk := &PublicKey{params: p}
	out := rlwe.NewPublicKey(p.rlwe())
	ckg.GenPublicKey(sum, crp, out)
	pk.pk0, pk.pk1 = out.Value[0].Q, out.Value[1].Q
	return pk, nil
}

// ThresholdKey is a party's Shamir share of the collective secret s: any
// Threshold parties of the committee can decrypt together. It is secret.
type ThresholdKey struct {
	params    *Params
	committee Committee
	self      int
	share     ring.Poly // F(self+1), NTT and Montgomery form
}

// Finish sums the Shamir shares the party received, received[i] being
// shares[self] of party i's Round1, into the party's threshold key. Each must
// name its sender i, this party and this committee. Finish uses no state of
// Round1, so it also works on a fresh KeygenParty for the same party.
//
// There is no verifiable secret sharing: a dishonest party can send shares
// that are not on one polynomial, or that do not match its public-key share,
// and decryption then fails (or, with some active sets only, succeeds).
func (k *KeygenParty) Finish(received [][]byte) (*ThresholdKey, error) {
	p, c := k.params, k.committee
	if len(received) != c.Nodes {
		return nil, fmt.Errorf("he: keygen finish: %d shares for %d parties: %w", len(received), c.Nodes, ErrInvalidArgument)
	}
	sum := p.ringQ.NewPoly()
	for i, b := range received {
		s, err := decodeShamirShare(p, b)
		if err != nil {
			return nil, fmt.Errorf("he: Shamir share from party %d: %w", i, err)
		}
		if s.nodes != c.Nodes || s.threshold != c.Threshold || s.from != i || s.to != k.self {
			zeroPoly(s.poly)
			return nil, fmt.Errorf("he: Shamir share at position %d is from party %d to party %d of a %d-of-%d committee: %w", i, s.from, s.to, s.threshold, s.nodes, ErrMismatch)
		}
		p.ringQ.Add(sum, s.poly, sum)
		zeroPoly(s.poly)
	}
	return &ThresholdKey{params: p, committee: c, self: k.self, share: sum}, nil
}

// Party returns the key holder's index.
func (tk *ThresholdKey) Party() int { return tk.self }

// Committee returns the committee the key belongs to.
func (tk *ThresholdKey) Committee() Committee { return tk.committee }

func thresholdKeySize(p *Params) int { return headerSize(p) + 3 + polySize(p) }

// MarshalBinary encodes the key (secret: store it encrypted).
func (tk *ThresholdKey) MarshalBinary() ([]byte, error) {
	if tk == nil || tk.params == nil {
		return nil, fmt.Errorf("he: encoding a zero ThresholdKey: %w", ErrInvalidArgument)
	}
	e := newEncoder(tk.params, kindThresholdKey, thresholdKeySize(tk.params))
	e.Uint8(uint8(tk.committee.Nodes))
	e.Uint8(uint8(tk.committee.Threshold))
	e.Uint8(uint8(tk.self))
	e.poly(tk.share)
	return e.Bytes()
}

// UnmarshalThresholdKey decodes a key encoded by MarshalBinary for p.
func UnmarshalThresholdKey(p *Params, b []byte) (*ThresholdKey, error) {
	if p == nil {
		return nil, fmt.Errorf("he: UnmarshalThresholdKey: nil parameters: %w", ErrInvalidArgument)
	}
	if len(b) != thresholdKeySize(p) {
		return nil, fmt.Errorf("he: threshold key: %d bytes, want %d: %w", len(b), thresholdKeySize(p), ErrMalformed)
	}
	d := newDecoder(p, kindThresholdKey, b)
	c := Committee{Nodes: int(d.Uint8()), Threshold: int(d.Uint8())}
	self := int(d.Uint8())
	if d.Err() == nil && (c.Validate() != nil || c.validParty(self) != nil) {
		d.fail("committee %d-of-%d, party %d", c.Threshold, c.Nodes, self)
	}
	share := d.poly()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return &ThresholdKey{params: p, committee: c, self: self, share: share}, nil
}

func zeroPoly(p ring.Poly) {
	for _, limb := range p.Coeffs {
		clear(limb)
	}
}
