//go:build linux

package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing n bytes of f at off to
// the disk, without waiting for them (sync_file_range with
// SYNC_FILE_RANGE_WRITE), so that the bytes of a large file go to the
// disk while the rest of it is written and its fsync waits for the last
// of them only. It is advice, not durability: an error is ignored, and the
// fsync that follows is what makes the bytes durable.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
