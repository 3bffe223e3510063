package backend

// Ingest is the part of a Backend used by a node's ingest.
type Ingest interface{}
