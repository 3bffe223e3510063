package node

// PeerService, the protocol between the federation's nodes, is served in
// one file per concern: peer_registry.go (registrations, invites, buyers),
// peer_ingest.go (forwarded contributions and revocations), peer_setup.go
// (the Groth16 ceremony and HE key generation) and peer_jobs.go (the job
// round).

import cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"

// peerService is PeerService: callers are authenticated nodes (see
// authenticatePeer); a peer re-checks everything it can.
type peerService struct {
	cohortv1.UnimplementedPeerServiceServer
	n *Node
}
