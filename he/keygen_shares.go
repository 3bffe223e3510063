package he

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// publicKeyShare is the decoded form of a party's public-key share:
//
//	header ‖ party (1) ‖ nodes (1) ‖ threshold (1) ‖ CRS (32) ‖ −a·s_i + e_i
type publicKeyShare struct {
	party, nodes, threshold int
	crs                     [32]byte
	poly                    ring.Poly
}

func (s *publicKeyShare) encode(p *Params) ([]byte, error) {
	e := newEncoder(p, kindPublicKeyShare, publicKeyShareSize(p))
	e.Uint8(uint8(s.party))
	e.Uint8(uint8(s.nodes))
	e.Uint8(uint8(s.threshold))
	e.Raw(s.crs[:])
	e.poly(s.poly)
	return e.Bytes()
}

// decodePublicKeyShare checks the exact length before it reads, and every
// coefficient below its modulus; failures wrap ErrMalformed.
func decodePublicKeyShare(p *Params, b []byte) (*publicKeyShare, error) {
	if len(b) != publicKeyShareSize(p) {
		return nil, fmt.Errorf("%d bytes, want %d: %w", len(b), publicKeyShareSize(p), ErrMalformed)
	}
	d := newDecoder(p, kindPublicKeyShare, b)
	s := &publicKeyShare{party: int(d.Uint8()), nodes: int(d.Uint8()), threshold: int(d.Uint8())}
	d.Copy(s.crs[:])
	s.poly = d.poly()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return s, nil
}

// shamirShare is the decoded form of a Shamir share of a party's secret:
//
//	header ‖ nodes (1) ‖ threshold (1) ‖ from (1) ‖ to (1) ‖ f_from(to+1)
type shamirShare struct {
	nodes, threshold, from, to int
	poly                       ring.Poly
}

func (s *shamirShare) encode(p *Params) ([]byte, error) {
	e := newEncoder(p, kindShamirShare, shamirShareSize(p))
	e.Uint8(uint8(s.nodes))
	e.Uint8(uint8(s.threshold))
	e.Uint8(uint8(s.from))
	e.Uint8(uint8(s.to))
	e.poly(s.poly)
	return e.Bytes()
}

// decodeShamirShare checks the exact length before it reads, and every
// coefficient below its modulus; failures wrap ErrMalformed.
func decodeShamirShare(p *Params, b []byte) (*shamirShare, error) {
	if len(b) != shamirShareSize(p) {
		return nil, fmt.Errorf("%d bytes, want %d: %w", len(b), shamirShareSize(p), ErrMalformed)
	}
	d := newDecoder(p, kindShamirShare, b)
	s := &shamirShare{nodes: int(d.Uint8()), threshold: int(d.Uint8()), from: int(d.Uint8()), to: int(d.Uint8())}
	s.poly = d.poly()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return s, nil
}
