package client

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Identity file limits.
const (
	// MaxIdentityFileSize bounds an identity file; LoadIdentity reads no more.
	MaxIdentityFileSize = 64 << 10
	// MaxFederationLen bounds a membership's federation name.
	MaxFederationLen = 256
	identityVersion  = 1
)

// identityFile is the JSON form of an identity:
//
//	{"version":1, "secret":"<64 hex digits>",
//	 "memberships":[{"federation":"<name or address>", "index":N, "root":"<64 hex>", "sequence":S}]}
//
// Field elements are 32 bytes big-endian canonical, in lowercase hex. The
// list holds at most one membership: an identity belongs to one federation,
// because the same commitment in two registries would link its owner's
// records across them.
type identityFile struct {
	Version     int              `json:"version"`
	Secret      string           `json:"secret"`
	Memberships []membershipFile `json:"memberships"`
}

type membershipFile struct {
	Federation string `json:"federation"`
	Index      uint64 `json:"index"`
	Root       string `json:"root"`
	Sequence   uint64 `json:"sequence"`
}

// marshal encodes the identity as its file's bytes.
func (id *Identity) marshal() ([]byte, error) {
	if id.Secret.IsZero() {
		return nil, fmt.Errorf("%w: zero secret", ErrIdentityFile)
	}
	s := id.Secret.Bytes()
	f := identityFile{Version: identityVersion, Secret: hex.EncodeToString(s[:]), Memberships: []membershipFile{}}
	clear(s[:])
	if m := id.Member; m != nil {
		if m.Federation == "" || len(m.Federation) > MaxFederationLen {
			return nil, fmt.Errorf("%w: federation name of %d bytes, want 1..%d", ErrIdentityFile, len(m.Federation), MaxFederationLen)
		}
		if _, err := element(m.Root[:]); err != nil {
			return nil, fmt.Errorf("%w: membership root: %v", ErrIdentityFile, err)
		}
		f.Memberships = append(f.Memberships, membershipFile{
			Federation: m.Federation, Index: m.Index, Root: hex.EncodeToString(m.Root[:]), Sequence: m.Sequence,
		})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("client: identity: %w", err)
	}
	return append(b, '\n'), nil
}

// parseIdentity decodes an identity file's bytes. It refuses unknown members,
// trailing data, another version, a secret or root that is not 32 bytes of
// canonical field element (or a zero secret), and more than one membership.
func parseIdentity(data []byte) (*Identity, error) {
	if len(data) > MaxIdentityFileSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrIdentityFile, len(data), MaxIdentityFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f identityFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentityFile, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrIdentityFile)
	}
	if f.Version != identityVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrIdentityFile, f.Version, identityVersion)
	}
	raw, err := hex32(f.Secret)
	if err != nil {
		return nil, fmt.Errorf("%w: secret: %v", ErrIdentityFile, err)
	}
	s, err := element(raw[:])
	clear(raw[:])
	if err != nil || s.IsZero() {
		return nil, fmt.Errorf("%w: secret is not a non-zero field element", ErrIdentityFile)
	}
	id := &Identity{Secret: s}
	switch len(f.Memberships) {
	case 0:
	case 1:
		m := f.Memberships[0]
		if m.Federation == "" || len(m.Federation) > MaxFederationLen {
			return nil, fmt.Errorf("%w: federation name of %d bytes, want 1..%d", ErrIdentityFile, len(m.Federation), MaxFederationLen)
		}
		root, err := hex32(m.Root)
		if err != nil {
			return nil, fmt.Errorf("%w: membership root: %v", ErrIdentityFile, err)
		}
		if _, err := element(root[:]); err != nil {
			return nil, fmt.Errorf("%w: membership root: %v", ErrIdentityFile, err)
		}
		id.Member = &Membership{Federation: m.Federation, Index: m.Index, Root: root, Sequence: m.Sequence}
	default:
		return nil, fmt.Errorf("%w: %d memberships; an identity belongs to one federation (use one identity file per federation)", ErrIdentityFile, len(f.Memberships))
	}
	return id, nil
}

func hex32(s string) ([32]byte, error) {
	var out [32]byte
	if len(s) != 2*len(out) {
		return out, fmt.Errorf("%d hex digits, want %d", len(s), 2*len(out))
	}
	if _, err := hex.Decode(out[:], []byte(s)); err != nil {
		return out, err
	}
	return out, nil
}

// Save writes the identity to a new file at path, readable by its owner
// only (mode 0600 from creation), creating missing parent directories with
// mode 0700. It refuses to overwrite an existing file (the error wraps
// fs.ErrExist): losing a secret loses the power to revoke its records.
func (id *Identity) Save(path string) error {
	data, err := id.marshal()
	if err != nil {
		return err
	}
	defer clear(data)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("client: identity: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("client: identity: %w", err)
	}
	if err := writeAndSync(f, data); err != nil {
		os.Remove(path)
		return fmt.Errorf("client: identity: %w", err)
	}
	return nil
}

// Update rewrites the identity file at path atomically (a new 0600 file in
// the same directory, synced, then renamed over it), after checking that the
// file holds this identity's secret: Update records a new membership, it
// never replaces one identity with another.
func (id *Identity) Update(path string) error {
	old, err := LoadIdentity(path)
	if err != nil {
		return err
	}
	if !old.Secret.Equal(&id.Secret) {
		return fmt.Errorf("%w: %s holds another identity; not overwriting it", ErrIdentityFile, path)
	}
	data, err := id.marshal()
	if err != nil {
		return err
	}
	defer clear(data)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".identity-*.tmp") // created with mode 0600
	if err != nil {
		return fmt.Errorf("client: identity: %w", err)
	}
	name := tmp.Name()
	if err := writeAndSync(tmp, data); err != nil {
		os.Remove(name)
		return fmt.Errorf("client: identity: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("client: identity: %w", err)
	}
	syncDir(dir)
	return nil
}

func writeAndSync(f *os.File, data []byte) error {
	if err := f.Chmod(0o600); err != nil {
		f.Close()
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

// syncDir makes a rename durable where the platform allows; failing to is
// not an error (the rename itself succeeded).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// LoadIdentity reads an identity file. It refuses a file that others may
// read or write (mode & 0077 ≠ 0 on Unix; fix it with chmod 600), one that is
// not a regular file, larger than MaxIdentityFileSize, or malformed
// (parseIdentity). A missing file is an error wrapping fs.ErrNotExist.
func LoadIdentity(path string) (*Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("client: identity: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("client: identity: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrIdentityFile, path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is accessible to other users (mode %04o); it holds your secret: run chmod 600 %s",
			ErrIdentityFile, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxIdentityFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("client: identity: %w", err)
	}
	defer clear(data)
	id, err := parseIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return id, nil
}
