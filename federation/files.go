package federation

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
)

// maxKeyFileBytes bounds a key or certificate file.
const maxKeyFileBytes = 64 << 10

// File modes Init writes with.
const (
	secretFileMode os.FileMode = 0o600
	publicFileMode os.FileMode = 0o644
	secretDirMode  os.FileMode = 0o700
	publicDirMode  os.FileMode = 0o755
)

// readBounded reads a regular file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readOpened(f, path, limit)
}

// readSecretFile reads a private key file after checking, on the open file,
// that neither group nor others have any access to it.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := privateMode(st, path); err != nil {
		return nil, err
	}
	return readOpened(f, path, maxKeyFileBytes)
}

// checkPrivateMode checks that neither group nor others have any access to
// the file at path.
func checkPrivateMode(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return privateMode(st, path)
}

// privateMode fails with ErrInsecureKeyFile when group or others have any
// access to the file. Windows has no such mode bits; it is not checked
// there.
func privateMode(st fs.FileInfo, path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o; run: chmod 600 %s", ErrInsecureKeyFile, path, perm, path)
	}
	return nil
}

func readOpened(f *os.File, path string, limit int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, at most %d", path, st.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return data, nil
}

// writeNewFile writes data to a file created with mode perm. An existing
// file is removed first, so the new file never inherits a looser mode, and
// the file is created exclusively, so nothing else can have opened it in
// between.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteSecretFile creates a new file with mode 0600 from its creation and
// writes data to it: a token or key a user asked to have written. An
// existing file is refused (an error wrapping fs.ErrExist), and a file
// written in part is removed.
func WriteSecretFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, secretFileMode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// dirEmpty reports whether path is missing or an empty directory.
func dirEmpty(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !st.IsDir() {
		return false, fmt.Errorf("%s is not a directory", path)
	}
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}
