package backend

// Round is the part of a Backend used by the job round, on coordinator and peers alike.
type Round interface{}
