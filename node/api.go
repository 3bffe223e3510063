package node

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Request checks shared by the public surfaces.

func pageSize(n int32) (int, error) {
	switch {
	case n == 0:
		return 20, nil
	case n < 0 || n > 100:
		return 0, status.Errorf(codes.InvalidArgument, "page_size %d: want 1..100", n)
	}
	return int(n), nil
}

func validJobID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
