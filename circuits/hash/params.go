package hash

import (
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr/poseidon2"
)

// Round numbers per width (Poseidon2 paper, BN254, α = 5, 128-bit security).
// Width 16 must match gnark-crypto's built-in constants.
func rounds(width int) (full, partial int) {
	switch width {
	case 3:
		return 8, 56
	case 16:
		return 8, 57
	}
	panic("hash: unsupported width")
}

var (
	perm3  = sync.OnceValue(func() *poseidon2.Permutation { f, p := rounds(3); return poseidon2.NewPermutation(3, f, p) })
	perm16 = sync.OnceValue(func() *poseidon2.Permutation { f, p := rounds(16); return poseidon2.NewPermutation(16, f, p) })
)

func nativePermutation(width int) *poseidon2.Permutation {
	if width == 3 {
		return perm3()
	}
	return perm16()
}
