// Package federation is the configuration and key material of a Cohort
// federation: the public descriptor every party shares, each node's
// configuration and secrets, and the TLS configurations built from them.
//
// # Files
//
// Init (and `cohort federation init`) writes, for n nodes:
//
//	D/federation.yaml     0644  the Descriptor: parameters, CA, per node addresses and public keys
//	D/ca.pem              0644  the federation CA certificate (clients pin it)
//	D/ca-key.pem          0600  the CA private key: move it offline
//	D/node-N/node.yaml    0600  the NodeConfig of node N
//	D/node-N/signing.key  0600  Ed25519 private key, PKCS #8 PEM
//	D/node-N/seal.key     0600  HPKE key, PEM "COHORT SEAL PRIVATE KEY" of seal.PrivateKey.Marshal()
//	D/node-N/tls.crt      0644  the node's certificate, signed by the CA
//	D/node-N/tls.key      0600  its ECDSA P-256 private key, PKCS #8 PEM
//	D/node-N/admin.token  0600  the admin bearer token (node.yaml keeps only its SHA-256)
//	D/node-N/data/        0700  the node's store
//
// Init holds every node's secrets on one machine, so it is for demos and
// tests. A federation whose operators do not trust one another is set up
// in two steps (docs/design.md §3.3). Keygen (`cohort federation keygen`),
// on each node's machine, writes into the node's directory N/:
//
//	N/signing.key, N/seal.key, N/tls.key, N/admin.token, N/node.yaml   0600
//	N/data/                0700
//	N/node-request.yaml    0644  public keys, addresses, TLS certificate request; signed by signing.key
//
// Assemble (`cohort federation assemble`), run by the holder of the CA
// (NewCA: ca.pem, ca-key.pem), checks every request's signature and writes
// only public files: federation.yaml, ca.pem and node-N.crt. Install
// (`cohort federation install`) puts federation.yaml and node-N.crt (as
// tls.crt) beside node.yaml and loads the node.
//
// Every secret is created with mode 0600 (never loosened then tightened), and
// LoadNode refuses a private key file that group or others can access.
// Node N listens, by default, for its API on host:7400+10N, for peers on
// host:7401+10N, for metrics on 127.0.0.1:7402+10N and for the HTTP/JSON
// API on host:7403+10N.
//
// # Trust model
//
// The federation CA (ECDSA P-256, valid ten years, path length 0) is the
// root of transport identity. It signs one certificate per node (valid two
// years), usable as TLS server and client certificate, whose URI SAN
// cohort-node://<federation>/<index> names the node; its DNS and IP SANs
// cover the hosts of the node's addresses, localhost, 127.0.0.1 and ::1. The
// CA's key is needed only to issue node certificates (adding or re-keying a
// node, renewal); whoever holds it can impersonate any node to its peers, so
// it belongs offline, not on a node. Each Init makes a new CA, so a
// certificate of one federation is worthless in another; the federation name
// in the URI is checked as well.
//
// Node-to-node traffic (PeerService) is mutual TLS 1.3: a node accepts a
// peer only with a certificate chaining to the CA that names a node of the
// federation (PeerServerTLS; PeerIndex tells handlers which), and a node
// dialling peer i accepts only the certificate naming node i
// (PeerClientTLS), so one node cannot answer for another. The API listener
// (APIServerTLS) is server-authenticated TLS 1.3: contributors and buyers
// check the node with ca.pem (ClientTLS) and need no certificate, which
// keeps contributors anonymous at the transport layer.
//
// The other keys are not about transport. A node's Ed25519 signing key signs
// what it attests (partial-aggregate digests, transcripts); its public half
// in the descriptor lets anyone, auditors included, check those signatures
// offline. A node's seal key (HPKE, seal.GenerateKey) opens the shares
// contributors seal to it; its public half in the descriptor is what they
// seal to. Both are generated per node and never leave the node's
// directory; LoadNode checks that each matches the node's descriptor entry,
// so a node cannot start with another node's keys.
//
// The admin token authenticates AdminService calls as a bearer token. It is
// 32 random bytes from crypto/rand, written to admin.token as URL-safe
// base64 without padding (43 characters) and a newline; the node keeps only
// its SHA-256 (node.yaml's admin_token_sha256) and compares digests in
// constant time (CheckAdminToken), so node.yaml discloses nothing usable.
// Each node has its own token; admin.token need not stay on the node.
//
// Prometheus metrics are served without authentication or TLS, so their
// listener must be a loopback address: exposing them is an operator's
// deliberate act (a local scraper or a reverse proxy), and the node's
// operational counters never reach the network by default.
//
// # What is validated
//
// ParseDescriptor and ParseNodeConfig decode strictly (unknown or duplicate
// keys, trailing documents and mistyped values are refused; inputs are
// bounded to MaxDescriptorBytes and MaxNodeConfigBytes) and validate every
// field (see Descriptor.Validate and NodeConfig.Validate). Open admission,
// which lets anyone register and so voids the one-record-per-person
// guarantee, is refused unless the node's configuration sets
// allow_insecure_dev_setup. Errors wrap the sentinels of this package; test
// with errors.Is.
//
// A Node is read-only once loaded and safe for concurrent use; its TLS
// configurations are built afresh on every call. No function of this
// package logs, and a Node or StoreConfig printed with fmt shows no key and
// no DSN.
package federation
