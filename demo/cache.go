package demo

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// The demo keeps, in the user's cache directory, a snapshot of a
// federation taken right after its dataset's ceremony: the whole federation
// directory (descriptor, CA, every node's keys, certificates, admin token
// and SQLite store, which holds the dataset and its Groth16 keys and
// nothing else). A later demo with the same software, schema, privacy
// policy, registry depth, ports and node count copies it instead of running the ceremony
// again. The keys are as real as on the first run: they came from a
// ceremony among exactly these node identities, which come with them. The
// snapshot holds the demo federation's secrets, so its directories are 0700
// and its files keep their modes (keys 0600).

const (
	// snapshotFormat names the snapshot layout; a change makes every
	// older snapshot unused.
	snapshotFormat = "cohort-demo-snapshot/v1"
	snapshotMeta   = "snapshot.json"
	snapshotFed    = "federation"
)

// snapshotMetadata is snapshot.json, written last: a snapshot without
// it is incomplete.
type snapshotMetadata struct {
	Format        string    `json:"format"`
	Key           string    `json:"key"`
	Created       time.Time `json:"created"`
	Dataset       string    `json:"dataset"`
	CircuitDigest string    `json:"circuit_digest"`
}

// cacheKey names the snapshot of a demo configuration: a hash of the
// software (version and build information: module versions, VCS revision
// where stamped), the schema digest, the dataset's privacy policy, the
// registry depth, the base port and the node count.
func cacheKey(version string, schemaDigest [32]byte, policy *cohortv1.PrivacyPolicy, depth, basePort, nodes int, price, fee uint64) string {
	h := sha256.New()
	h.Write([]byte(snapshotFormat + "\x00" + version + "\x00"))
	if bi, ok := debug.ReadBuildInfo(); ok {
		h.Write([]byte(bi.String()))
	}
	h.Write(schemaDigest[:])
	pol, _ := proto.MarshalOptions{Deterministic: true}.Marshal(policy)
	h.Write([]byte(fmt.Sprintf("%d\x00", len(pol))))
	h.Write(pol)
	var b [40]byte
	binary.BigEndian.PutUint64(b[0:], uint64(depth))
	binary.BigEndian.PutUint64(b[8:], uint64(basePort))
	binary.BigEndian.PutUint64(b[16:], uint64(nodes))
	binary.BigEndian.PutUint64(b[24:], price)
	binary.BigEndian.PutUint64(b[32:], fee)
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// cacheRoot is where snapshots live: root if given, else the user's
// cache directory's cohort/demo.
func cacheRoot(root string) (string, error) {
	if root != "" {
		return root, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("demo: no cache directory (%v); run with --no-cache", err)
	}
	return filepath.Join(dir, "cohort", "demo"), nil
}

// restoreSnapshot copies the snapshot at dir into fedDir, which must not
// exist. It fails with fs.ErrNotExist when there is no complete snapshot.
func restoreSnapshot(dir, key, fedDir string) (*snapshotMetadata, error) {
	raw, err := os.ReadFile(filepath.Join(dir, snapshotMeta))
	if err != nil {
		return nil, err
	}
	var meta snapshotMetadata
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", snapshotMeta, err)
	}
	if meta.Format != snapshotFormat || meta.Key != key {
		return nil, fmt.Errorf("%s: format %q, key %q: not this demo's", snapshotMeta, meta.Format, meta.Key)
	}
	if err := copyTree(filepath.Join(dir, snapshotFed), fedDir); err != nil {
		os.RemoveAll(fedDir)
		return nil, err
	}
	return &meta, nil
}

// saveSnapshot copies fedDir (its nodes stopped) to a new snapshot at
// dir, replacing any older one there. It is built beside dir and renamed
// into place, so a reader sees a whole snapshot or none.
func saveSnapshot(dir, fedDir string, meta snapshotMetadata) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // left over only on failure
	if err := copyTree(fedDir, filepath.Join(tmp, snapshotFed)); err != nil {
		return err
	}
	meta.Format = snapshotFormat
	raw, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, snapshotMeta), append(raw, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// copyTree copies the directory tree src to dst, which must not exist:
// directories are created 0700, regular files keep their permission bits.
// Anything else (a symbolic link, a device) is refused.
func copyTree(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("copy %s: %s exists", src, dst)
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
			return os.Chmod(target, 0o700) // whatever the umask
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(path, target, info.Mode().Perm())
		}
		return fmt.Errorf("copy %s: %s is not a regular file or directory", src, path)
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(perm); err != nil { // whatever the umask
		out.Close()
		return err
	}
	return out.Close()
}

// errNoSnapshot reports whether err means there is no snapshot, as opposed
// to one that could not be used.
func errNoSnapshot(err error) bool { return errors.Is(err, fs.ErrNotExist) }
