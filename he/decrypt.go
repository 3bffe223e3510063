package he

import (
	"fmt"
	"io"
	"math/big"
	"slices"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// DecryptionShare is one active party's share of the decryption of one
// ciphertext: h_i = c1·s'_i + e_i in the coefficient domain, s'_i the
// party's additive share of s for the active set and e_i the smudging noise.
// It is what a node persists before it answers, so that it never produces a
// second, different share for the same ciphertext. The full share is secret;
// Reveal discloses chosen coefficients of it.
type DecryptionShare struct {
	params    *Params
	committee Committee
	party     int
	active    []int
	ct        [32]byte // digest of the ciphertext
	h         ring.Poly
}

// validActive checks that active is a strictly increasing list of
// Threshold parties of c.
func validActive(c Committee, active []int) error {
	if len(active) != c.Threshold {
		return fmt.Errorf("he: active set of %d parties, threshold is %d: %w", len(active), c.Threshold, ErrInvalidArgument)
	}
	for i, a := range active {
		if a < 0 || a >= c.Nodes || (i > 0 && a <= active[i-1]) {
			return fmt.Errorf("he: active set %v is not sorted distinct parties of 0..%d: %w", active, c.Nodes-1, ErrInvalidArgument)
		}
	}
	return nil
}

// DecryptionShare computes this party's decryption share of ct for the
// active set (sorted, distinct, exactly Threshold parties, self among
// them). The smudging noise is uniform in [−B, B] per coefficient, B =
// budget.SmudgingBound(): budget must come from Params.Check for this
// parameter set and this committee, which sizes B from the required,
// typed Smudging parameter of the capacity.
//
// A party must produce at most one share per ciphertext and persist it: two
// shares of one ciphertext with fresh smudging (or for two active sets) let
// their difference be averaged or solved for key material (lattigo
// SECURITY.md). This package cannot see past calls; the caller enforces it.
// rng supplies the smudging (crypto/rand.Reader when nil).
func (tk *ThresholdKey) DecryptionShare(p *Params, ct *Ciphertext, active []int, budget *Budget, rng io.Reader) (*DecryptionShare, error) {
	if p == nil || ct == nil {
		return nil, fmt.Errorf("he: decryption share: nil parameters or ciphertext: %w", ErrInvalidArgument)
	}
	if !p.same(tk.params) || !p.same(ct.params) {
		return nil, fmt.Errorf("he: decryption share: key (%q) and ciphertext (%q) must both be for %q: %w", tk.params.name(), ct.params.name(), p.id, ErrMismatch)
	}
	if budget == nil || budget.smudgingBound == nil {
		return nil, fmt.Errorf("he: decryption share: a budget from Params.Check is required: %w", ErrInvalidArgument)
	}
	if budget.Params != p.id || budget.Capacity.Nodes != tk.committee.Nodes || budget.Capacity.Threshold != tk.committee.Threshold {
		return nil, fmt.Errorf("he: decryption share: budget is for %q, %d-of-%d; key is for %q, %d-of-%d: %w",
			budget.Params, budget.Capacity.Threshold, budget.Capacity.Nodes, p.id, tk.committee.Threshold, tk.committee.Nodes, ErrMismatch)
	}
	if err := validActive(tk.committee, active); err != nil {
		return nil, err
	}
	if !slices.Contains(active, tk.self) {
		return nil, fmt.Errorf("he: decryption share: party %d is not in the active set %v: %w", tk.self, active, ErrInvalidArgument)
	}
	stream, err := newStream(rng)
	if err != nil {
		return nil, err
	}
	s, err := tk.decryptionShare(ct, active)
	if err != nil {
		return nil, err
	}
	if err := addUniform(p, stream, budget.smudgingBound, s.h); err != nil {
		return nil, err
	}
	return s, nil
}

// decryptionShare returns c1·s'_i in the coefficient domain, without
// smudging.
func (tk *ThresholdKey) decryptionShare(ct *Ciphertext, active []int) (*DecryptionShare, error) {
	p := tk.params
	points := make([]mhe.ShamirPublicPoint, len(active))
	for i, a := range active {
		points[i] = mhe.ShamirPublicPoint(a + 1)
	}
	own := mhe.ShamirPublicPoint(tk.self + 1)
	cmb := mhe.NewCombiner(p.rlwe(), own, points, tk.committee.Threshold)
	sk := rlwe.NewSecretKey(p.rlwe())
	if err := cmb.GenAdditiveShare(points, own, mhe.ShamirSecretShare{Poly: ringqp.Poly{Q: tk.share}}, sk); err != nil {
		return nil, fmt.Errorf("he: decryption share: %w", err)
	}

	h := p.ringQ.NewPoly()
	p.ringQ.MulCoeffsMontgomery(ct.c1, sk.Value.Q, h)
	p.ringQ.INTT(h, h)
	zeroPoly(sk.Value.Q)
	return &DecryptionShare{
		params:    p,
		committee: tk.committee,
		party:     tk.self,
		active:    slices.Clone(active),
		ct:        ct.Digest(),
		h:         h,
	}, nil
}

// Party returns the index of the party that made the share.
func (s *DecryptionShare) Party() int { return s.party }

// Active returns the active set the share was made for.
func (s *DecryptionShare) Active() []int { return slices.Clone(s.active) }

// Ciphertext returns the digest of the ciphertext the share decrypts.
func (s *DecryptionShare) Ciphertext() [32]byte { return s.ct }

func decryptionShareSize(p *Params, threshold int) int {
	return headerSize(p) + 3 + threshold + 32 + polySize(p)
}

// MarshalBinary encodes the share for persistence (secret: it is the whole
// share, not only the revealed coefficients).
func (s *DecryptionShare) MarshalBinary() ([]byte, error) {
	if s == nil || s.params == nil {
		return nil, fmt.Errorf("he: encoding a zero DecryptionShare: %w", ErrInvalidArgument)
	}
	e := newEncoder(s.params, kindDecryptionShare, decryptionShareSize(s.params, len(s.active)))
	encodeParties(e, s.committee, s.party, s.active)
	e.Raw(s.ct[:])
	e.poly(s.h)
	return e.Bytes()
}

// UnmarshalDecryptionShare decodes a share encoded by MarshalBinary for p.
func UnmarshalDecryptionShare(p *Params, b []byte) (*DecryptionShare, error) {
	if p == nil {
		return nil, fmt.Errorf("he: UnmarshalDecryptionShare: nil parameters: %w", ErrInvalidArgument)
	}
	d := newDecoder(p, kindDecryptionShare, b)
	c, party, active := decodeParties(d)
	if d.Err() == nil && len(b) != decryptionShareSize(p, c.Threshold) {
		d.fail("%d bytes, want %d", len(b), decryptionShareSize(p, c.Threshold))
	}
	s := &DecryptionShare{params: p, committee: c, party: party, active: active}
	copy(s.ct[:], d.Fixed(32))
	s.h = d.poly()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return s, nil
}

// encodeParties writes nodes, threshold, party and the active set.
func encodeParties(e *encoder, c Committee, party int, active []int) {
	e.Uint8(uint8(c.Nodes))
	e.Uint8(uint8(c.Threshold))
	e.Uint8(uint8(party))
	for _, a := range active {
		e.Uint8(uint8(a))
	}
}

// decodeParties reads what encodeParties writes and validates it: a valid
// committee, an active set of Threshold sorted distinct parties, party in it.
func decodeParties(d *decoder) (Committee, int, []int) {
	c := Committee{Nodes: int(d.Uint8()), Threshold: int(d.Uint8())}
	party := int(d.Uint8())
	if d.Err() != nil {
		return c, 0, nil
	}
	if c.Validate() != nil {
		d.fail("committee %d-of-%d", c.Threshold, c.Nodes)
		return c, 0, nil
	}
	raw := d.Fixed(c.Threshold)
	if raw == nil {
		return c, 0, nil
	}
	active := make([]int, len(raw))
	for i, a := range raw {
		active[i] = int(a)
	}
	if validActive(c, active) != nil || !slices.Contains(active, party) {
		d.fail("active set %v with party %d", active, party)
		return c, 0, nil
	}
	return c, party, active
}

// Reveal returns the share's coefficients at coords (strictly increasing,
// in [0, N)), and nothing else of it.
func (s *DecryptionShare) Reveal(coords []int) (*PartialDecryption, error) {
	if err := validCoords(s.params, coords); err != nil {
		return nil, err
	}
	l := s.params.limbs()
	values := make([]uint64, len(coords)*l)
	for k, j := range coords {
		for i := 0; i < l; i++ {
			values[k*l+i] = s.h.Coeffs[i][j]
		}
	}
	return &PartialDecryption{
		params:    s.params,
		committee: s.committee,
		party:     s.party,
		active:    slices.Clone(s.active),
		ct:        s.ct,
		coords:    slices.Clone(coords),
		values:    values,
	}, nil
}

func validCoords(p *Params, coords []int) error {
	if len(coords) == 0 {
		return fmt.Errorf("he: no coordinates: %w", ErrInvalidArgument)
	}
	for i, j := range coords {
		if j < 0 || j >= p.n || (i > 0 && j <= coords[i-1]) {
			return fmt.Errorf("he: coordinates must be strictly increasing in [0, %d): %w", p.n, ErrInvalidArgument)
		}
	}
	return nil
}

// PartialDecryption is the public part of a decryption share: its
// coefficients at the revealed coordinates, RNS limbs in the coefficient
// domain, with the party, active set and ciphertext digest they belong to.
type PartialDecryption struct {
	params    *Params
	committee Committee
	party     int
	active    []int
	ct        [32]byte
	coords    []int
	values    []uint64 // len(coords) × limbs, coordinate-major
}

// Party returns the index of the party that revealed it.
func (d *PartialDecryption) Party() int { return d.party }

// Coords returns the revealed coordinates.
func (d *PartialDecryption) Coords() []int { return slices.Clone(d.coords) }

// Active returns the active set of the decryption.
func (d *PartialDecryption) Active() []int { return slices.Clone(d.active) }

// Ciphertext returns the digest of the ciphertext it decrypts.
func (d *PartialDecryption) Ciphertext() [32]byte { return d.ct }

func partialSize(p *Params, threshold, count int) int {
	return headerSize(p) + 3 + threshold + 32 + 4 + count*(4+8*p.limbs())
}

// MarshalBinary encodes the partial decryption: header, nodes, threshold,
// party, active set, ciphertext digest, count, the coordinates (uint32) and
// their values (RNS limbs, uint64 each < q_i).
func (d *PartialDecryption) MarshalBinary() ([]byte, error) {
	if d == nil || d.params == nil {
		return nil, fmt.Errorf("he: encoding a zero PartialDecryption: %w", ErrInvalidArgument)
	}
	e := newEncoder(d.params, kindPartialDecryption, partialSize(d.params, len(d.active), len(d.coords)))
	encodeParties(e, d.committee, d.party, d.active)
	e.Raw(d.ct[:])
	e.Uint32(uint32(len(d.coords)))
	for _, j := range d.coords {
		e.Uint32(uint32(j))
	}
	for _, v := range d.values {
		e.Uint64(v)
	}
	return e.Bytes()
}

// UnmarshalPartialDecryption decodes a partial decryption encoded for p,
// checking the header, the committee and active set, a count in 1..N and the
// exact length (before allocating), strictly increasing coordinates below N,
// and every value below its modulus. Failures wrap ErrMalformed.
func UnmarshalPartialDecryption(p *Params, b []byte) (*PartialDecryption, error) {
	if p == nil {
		return nil, fmt.Errorf("he: UnmarshalPartialDecryption: nil parameters: %w", ErrInvalidArgument)
	}
	d := newDecoder(p, kindPartialDecryption, b)
	c, party, active := decodeParties(d)
	out := &PartialDecryption{params: p, committee: c, party: party, active: active}
	copy(out.ct[:], d.Fixed(32))
	count := int(d.Uint32())
	if d.Err() == nil && (count < 1 || count > p.n) {
		d.fail("%d coordinates, want 1..%d", count, p.n)
	}
	if d.Err() == nil && len(b) != partialSize(p, c.Threshold, count) {
		d.fail("%d bytes, want %d", len(b), partialSize(p, c.Threshold, count))
	}
	if d.Err() != nil {
		return nil, d.finish()
	}
	out.coords = make([]int, count)
	for k := range out.coords {
		out.coords[k] = int(d.Uint32())
	}
	if validCoords(p, out.coords) != nil {
		d.fail("coordinates not strictly increasing below %d", p.n)
	}
	l := p.limbs()
	out.values = make([]uint64, count*l)
	for k := range out.values {
		v := d.Uint64()
		if d.Err() == nil && v >= p.qs[k%l] {
			d.fail("value %d of coordinate %d is not below q_%d", k%l, k/l, k%l)
		}
		out.values[k] = v
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return out, nil
}

// Combine decrypts ct at coords from the partial decryptions of every party
// of one active set, and returns the plaintext coefficients mod t at coords,
// in order. Each part must be for ct (by digest), this parameter set, the
// same committee and active set, and reveal every coordinate asked for; the
// parties must be exactly the active set, in any order. coords are distinct, in [0, N).
//
// For each coordinate it computes x = c0 + Σ_i h_i = Δ·m + v (mod Q), v the
// aggregate noise plus the smudging, then t·x = m + t·v (mod Q), centred in
// [−(Q−1)/2, (Q−1)/2], reduced mod t: m exactly while t·|v| + t − 1 ≤ (Q−1)/2,
// which Params.Check guarantees within the capacity. A wrong share (a
// dishonest party) yields a wrong value, not an error.
func Combine(p *Params, ct *Ciphertext, parts []*PartialDecryption, coords []int) ([]uint64, error) {
	if p == nil || ct == nil {
		return nil, fmt.Errorf("he: combine: nil parameters or ciphertext: %w", ErrInvalidArgument)
	}
	if !p.same(ct.params) {
		return nil, fmt.Errorf("he: combine: ciphertext is for %q, not %q: %w", ct.params.name(), p.id, ErrMismatch)
	}
	if len(parts) == 0 || parts[0] == nil {
		return nil, fmt.Errorf("he: combine: no partial decryptions: %w", ErrInvalidArgument)
	}
	if len(coords) == 0 {
		return nil, fmt.Errorf("he: combine: no coordinates: %w", ErrInvalidArgument)
	}
	seen := make(map[int]bool, len(coords))
	for _, j := range coords {
		if j < 0 || j >= p.n || seen[j] {
			return nil, fmt.Errorf("he: combine: coordinates must be distinct in [0, %d): %w", p.n, ErrInvalidArgument)
		}
		seen[j] = true
	}
	first := parts[0]
	digest := ct.Digest()
	if len(parts) != len(first.active) {
		return nil, fmt.Errorf("he: combine: %d partial decryptions for an active set of %d: %w", len(parts), len(first.active), ErrInvalidArgument)
	}
	// The parts' parties are distinct members of the active set (each part
	// names itself within it), len(active) of them: exactly the active set.
	parties := make(map[int]bool, len(parts))
	// index[k][j] is the position of coordinate j among part k's values.
	index := make([]map[int]int, len(parts))
	for k, part := range parts {
		switch {
		case part == nil:
			return nil, fmt.Errorf("he: combine: partial decryption %d is nil: %w", k, ErrInvalidArgument)
		case !p.same(part.params):
			return nil, fmt.Errorf("he: combine: partial decryption %d is for %q: %w", k, part.params.name(), ErrMismatch)
		case part.ct != digest:
			return nil, fmt.Errorf("he: combine: partial decryption %d is of another ciphertext: %w", k, ErrMismatch)
		case part.committee != first.committee || !slices.Equal(part.active, first.active):
			return nil, fmt.Errorf("he: combine: partial decryption %d is for another committee or active set: %w", k, ErrMismatch)
		case parties[part.party]:
			return nil, fmt.Errorf("he: combine: two partial decryptions of party %d: %w", part.party, ErrInvalidArgument)
		}
		parties[part.party] = true
		index[k] = make(map[int]int, len(part.coords))
		for pos, j := range part.coords {
			index[k][j] = pos
		}
		for _, j := range coords {
			if _, ok := index[k][j]; !ok {
				return nil, fmt.Errorf("he: combine: party %d did not reveal coordinate %d: %w", part.party, j, ErrInvalidArgument)
			}
		}
	}

	c0 := p.ringQ.NewPoly()
	p.ringQ.INTT(ct.c0, c0)
	l := p.limbs()
	acc := make([][]uint64, l)
	for i := range acc {
		acc[i] = make([]uint64, 1)
	}
	digits := make([]uint64, l)
	tBig := new(big.Int).SetUint64(p.t)
	halfQ := new(big.Int).Rsh(p.q, 1) // = (Q−1)/2, Q odd
	out := make([]uint64, len(coords))
	var x big.Int
	for n, j := range coords {
		for i, q := range p.qs {
			v := c0.Coeffs[i][j]
			for k, part := range parts {
				v += part.values[index[k][j]*l+i]
				if v >= q {
					v -= q
				}
			}
			acc[i][0] = v
		}
		p.crtQ.set(&x, acc, 0, digits)
		x.Mul(&x, tBig)
		x.Mod(&x, p.q)
		if x.Cmp(halfQ) > 0 {
			x.Sub(&x, p.q)
		}
		out[n] = x.Mod(&x, tBig).Uint64()
	}
	return out, nil
}
