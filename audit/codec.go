package audit

import "github.com/cohort-dev/cohort/wire"

// readDigest reads a 32-byte digest; zero after a failure.
func readDigest(r *wire.Reader) (d [32]byte) {
	r.Copy(d[:])
	return d
}

// copyOf copies a field out of the input it aliases; empty stays nil.
func copyOf(b []byte) []byte { return append([]byte(nil), b...) }
