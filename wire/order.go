package wire

import "encoding/binary"

// Order is the byte order of an encoding's integers, length prefixes
// included.
type Order uint8

const (
	// BigEndian is network byte order, the order of most encodings.
	BigEndian Order = iota
	// LittleEndian is the order of the HE package's encodings.
	LittleEndian
)

func (o Order) binary() binary.ByteOrder {
	if o == LittleEndian {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

func (o Order) append() binary.AppendByteOrder {
	if o == LittleEndian {
		return binary.LittleEndian
	}
	return binary.BigEndian
}
