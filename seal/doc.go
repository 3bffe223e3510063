// Package seal is a node's sealing identity: the HPKE key pair that
// contributors and other nodes encrypt to, and Seal and Open over it. Shares
// of MPC records (package mpc), HE key-generation and decryption shares
// passed between nodes, and secrets a node keeps at rest (sealed to itself)
// all go through it. It does no I/O.
//
// # Suite
//
// Everything is HPKE (RFC 9180) in base mode, from Go's crypto/hpke, under
// one Suite named by a byte. The only suite, SuiteXWingSHA256AES256GCM
// (ID 1), is
//
//	KEM  MLKEM768-X25519, a.k.a. X-Wing (0x647a): hybrid post-quantum,
//	     secure while either ML-KEM-768 or X25519 is
//	KDF  HKDF-SHA256 (0x0001)
//	AEAD AES-256-GCM (0x0002)
//
// # Encodings
//
// A private key is the suite byte followed by the KEM's 32-byte seed (33
// bytes); it is secret, and PrivateKey prints as a placeholder under every
// fmt verb. A public key is the suite byte followed by the KEM's 1216-byte
// encapsulation key (1217 bytes). Sealed bytes are
//
//	suite ID (1) ‖ encapsulated key (1120) ‖ AES-256-GCM ciphertext (len(pt) + 16)
//
// so Overhead is 1137 bytes. The suite byte lets the suite change later
// without ambiguity.
//
// # What is bound
//
// The HPKE info is the caller's purpose string, fixed per use and
// domain-separated from every other use ("cohort/v1/…"; package mpc appends
// the node index to its own), and enters the key schedule: bytes sealed for
// one purpose do not open for another. The associated data is the caller's
// context (a dataset, job or digest the bytes belong to) and is
// authenticated by the AEAD: bytes open only next to the context they were
// sealed for. Base mode does not authenticate the sender: anyone holding a
// public key can seal to it, so what is opened must be checked against
// something the sender could not forge (a proof's commitment, a signature).
//
// # What is validated
//
// ParsePublicKey checks the suite byte, the exact length and what the KEM
// validates (ML-KEM-768's encapsulation-key modulus check); ParsePrivateKey
// the suite byte and the exact length. Open checks the suite byte against
// the key's and the length against Overhead and MaxPlaintextSize before it
// decrypts. A bad encoding wraps ErrMalformed; a wrong key, info or
// associated data, or any modified byte, wraps ErrOpen and says nothing
// more.
//
// Keys are immutable and safe for concurrent use; so are the functions of
// this package.
package seal
