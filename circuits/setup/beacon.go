package setup

import "fmt"

// Beacon is public randomness that nobody could predict before the last
// contribution of a phase was published: for instance a drand round or a
// block hash fixed in advance, announced before the phase starts and fetched
// after it closes. It is hashed with the last state into one final,
// reproducible contribution, so that the last participant cannot choose the
// final parameters by grinding its own contribution. It must be between
// MinBeaconSize and MaxBeaconSize bytes.
type Beacon []byte

// NewBeacon checks b's length and returns a copy of it as a Beacon.
func NewBeacon(b []byte) (Beacon, error) {
	beacon := Beacon(append([]byte(nil), b...))
	if err := beacon.validate(); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	return beacon, nil
}

func (b Beacon) validate() error {
	if len(b) < MinBeaconSize || len(b) > MaxBeaconSize {
		return fmt.Errorf("%w: %d bytes, need %d to %d", ErrBeacon, len(b), MinBeaconSize, MaxBeaconSize)
	}
	return nil
}
