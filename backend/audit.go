package backend

// Audit is the part of a Backend used by the offline audit.
type Audit interface{}
