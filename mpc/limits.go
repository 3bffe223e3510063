package mpc

const (
	// MaxNodes is the largest number of nodes a record can be split among.
	// Node indices are 0 … MaxNodes−1 and travel as uint16.
	MaxNodes = 1 << 16

	// MaxLen is the largest vector length this package handles (2^20
	// coordinates, 32 MiB per share). It bounds every allocation made while
	// decoding outside bytes.
	MaxLen = 1 << 20
)

func checkLen(m int) bool { return m >= 1 && m <= MaxLen }

func checkNode(j int) bool { return j >= 0 && j < MaxNodes }
