// Package dataset turns a dataset descriptor (cohortv1.DatasetDescriptor, the
// public record of a dataset that nodes publish and contributors and
// auditors fetch) into checked Go values, and builds descriptors from a
// schema and a federation.
//
// From checks everything a descriptor claims that can be checked locally:
// the id and the schema's id agree, the canonical schema bytes parse and
// hash to the stated digest, the node list has node_count entries in index
// order with well-formed sealing (HPKE) and signing (Ed25519) keys, the
// registry depth and node count are in range, and the verifying key, when
// present, decodes. What it cannot check — that the keys came from an honest
// ceremony, that the circuit digest is the one of the compiled circuit — is
// checked by Compile (circuit digest) and by package circuits/setup
// (transcript).
//
// Parameter set ids name the cryptographic choices a dataset fixes (docs/design.md
// §5.7): ParamsMPC lists them for the MPC backend.
package dataset
