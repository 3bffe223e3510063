package backend

// malformed is an ErrMalformed error that reads as the decoder's own.
type malformed struct{ err error }

func (m malformed) Error() string { return m.err.Error() }

func (m malformed) Unwrap() error { return m.err }

func (malformed) Is(target error) bool { return target == ErrMalformed }

// refusal is an ErrRefused error with its own message.
type refusal string

func (r refusal) Error() string { return string(r) }

func (refusal) Is(target error) bool { return target == ErrRefused }
