// Package clienttest runs a fake federation for tests of contributor
// clients: one gRPC ContributorService on a loopback port, standing for all
// of a dataset's nodes at once, with every node's sealing and signing keys.
// It serves the embedded fitness schema as a READY dataset whose Groth16
// keys come from setup.InsecureDevSetup, and checks what it receives as the
// nodes would: a contribution's payload is decoded with the dataset's
// limits, its proof verified, every node's share opened and checked against
// its commitment, before acknowledgments signed with each node's key are
// returned. Hooks let a test make the fake misbehave (a tampered receipt, a
// broken proving-key stream) to check that the client notices.
//
// It is for tests only: New takes a testing.TB and refuses to run outside a
// test binary, and the keys it makes are insecure by construction.
package clienttest
