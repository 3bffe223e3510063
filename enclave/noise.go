package enclave

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
)

// A node keeps the noise it drew for a job with its record of the job
// (PeerRecord.Noise), so that it draws once per job and a retried round
// reuses it. The encoding: a 4-byte count, then per value a sign byte (0
// for ≥ 0, 1 for < 0) and the magnitude as 2-byte length and big-endian
// bytes, minimal (no leading zero; zero is the empty magnitude with sign
// 0).

// ErrNoiseEncoding: stored noise that does not decode.
var ErrNoiseEncoding = errors.New("enclave: malformed noise encoding")

// MaxNoiseMagnitude bounds the bytes of one noise value's magnitude.
const MaxNoiseMagnitude = 1 << 10

// EncodeNoise encodes a node's noise, one value per coordinate.
func EncodeNoise(z []*big.Int) ([]byte, error) {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(z)))
	for i, v := range z {
		if v == nil {
			return nil, fmt.Errorf("enclave: noise %d is missing", i)
		}
		m := v.Bytes()
		if len(m) > MaxNoiseMagnitude {
			return nil, fmt.Errorf("enclave: noise %d has %d bytes, at most %d", i, len(m), MaxNoiseMagnitude)
		}
		sign := byte(0)
		if v.Sign() < 0 {
			sign = 1
		}
		out = append(out, sign)
		out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
		out = append(out, m...)
	}
	return out, nil
}

// DecodeNoise decodes noise of exactly n values, refusing anything but
// EncodeNoise's canonical output.
func DecodeNoise(b []byte, n int) ([]*big.Int, error) {
	if len(b) < 4 || binary.BigEndian.Uint32(b) != uint32(n) {
		return nil, fmt.Errorf("%w: want %d values", ErrNoiseEncoding, n)
	}
	b = b[4:]
	out := make([]*big.Int, n)
	for i := range out {
		if len(b) < 3 {
			return nil, fmt.Errorf("%w: value %d is cut short", ErrNoiseEncoding, i)
		}
		sign, l := b[0], int(binary.BigEndian.Uint16(b[1:3]))
		b = b[3:]
		if sign > 1 || l > len(b) || l > MaxNoiseMagnitude || (l > 0 && b[0] == 0) || (l == 0 && sign == 1) {
			return nil, fmt.Errorf("%w: value %d", ErrNoiseEncoding, i)
		}
		out[i] = new(big.Int).SetBytes(b[:l])
		if sign == 1 {
			out[i].Neg(out[i])
		}
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrNoiseEncoding, len(b))
	}
	return out, nil
}
