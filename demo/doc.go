// Package demo runs Cohort end to end on one machine: a federation of
// three nodes in this process on loopback (each with its own configuration,
// keys, SQLite store and TLS listeners, run by the caller's NodeRunner),
// the demo dataset created through the nodes' Groth16 ceremony, synthetic
// contributors who register, contribute and in part revoke, and a buyer
// whose statistics and regression jobs are checked value by value against
// the same statistics computed from the eligible plaintext records. `cohort
// demo` is Run with its flags as Options.
//
// The dataset's keys are kept after the first ceremony as a snapshot of the
// whole federation directory in a cache directory (0700, files keeping
// their modes), named by a hash of the software, schema, registry depth,
// ports and node count; a later run with the same configuration starts from
// it, and an unusable snapshot is discarded with a warning.
//
// The demo's records and keys are for trying the system out: the records
// are drawn from a seed, records.csv holds them in plaintext, and the
// snapshot holds every node's secrets.
package demo
