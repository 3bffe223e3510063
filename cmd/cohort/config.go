package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Client configuration comes from, in order: the command line, then the
// environment (COHORT_NODE, COHORT_CA, …), then a profile file, then the
// flag's default. Only the connection flags below take part, and only in the
// client command groups: a server's or a ceremony's flags never change behind
// the operator's back.
var (
	// profileFlags are the flags an environment variable or a profile may set.
	profileFlags = []string{"node", "ca", "federation", "identity", "token-file", "key-file", "dir"}
	// pathFlags name files; a profile's relative paths are taken relative to
	// the profile's directory, so one profile works from any directory.
	pathFlags = map[string]bool{"ca": true, "federation": true, "identity": true, "token-file": true, "key-file": true, "dir": true}
	// profileGroups are the top-level commands whose subcommands read them.
	profileGroups = map[string]bool{"buyer": true, "contributor": true, "admin": true, "audit": true, "dataset": true, "app": true}
)

// profileEnv names the profile file; without it, the profile is
// profile.yaml in the user's configuration directory (os.UserConfigDir,
// e.g. ~/.config/cohort/profile.yaml), read only if it exists.
const profileEnv = "COHORT_PROFILE"

// maxProfileSize bounds what a profile read may allocate.
const maxProfileSize = 64 << 10

// envName is the environment variable of a flag: "token-file" → COHORT_TOKEN_FILE.
func envName(flag string) string {
	return "COHORT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// profile is the file's shape: top-level values for every group, and a
// section per group ("buyer:", "contributor:", …) that overrides them.
type profile struct {
	values   map[string]string
	sections map[string]map[string]string
	dir      string
}

// loadProfile reads the profile named by $COHORT_PROFILE (which must exist),
// else the default one if it exists. Unknown keys are refused, so a typo is
// not silently ignored.
func loadProfile() (*profile, error) {
	path, explicit := os.LookupEnv(profileEnv)
	if !explicit || path == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, nil
		}
		path = filepath.Join(dir, "cohort", "profile.yaml")
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if n, err := buf.ReadFrom(io.LimitReader(f, maxProfileSize+1)); err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	} else if n > maxProfileSize {
		return nil, fmt.Errorf("profile %s: larger than %d bytes", path, maxProfileSize)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(buf.Bytes(), &raw); err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	p := &profile{values: map[string]string{}, sections: map[string]map[string]string{}, dir: filepath.Dir(path)}
	for k, v := range raw {
		if profileGroups[k] {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("profile %s: %q must be a mapping of flag names to values", path, k)
			}
			sec := map[string]string{}
			for fk, fv := range m {
				s, err := profileValue(path, k+"."+fk, fk, fv)
				if err != nil {
					return nil, err
				}
				sec[fk] = s
			}
			p.sections[k] = sec
			continue
		}
		s, err := profileValue(path, k, k, v)
		if err != nil {
			return nil, err
		}
		p.values[k] = s
	}
	return p, nil
}

func profileValue(path, where, flag string, v any) (string, error) {
	known := false
	for _, f := range profileFlags {
		known = known || f == flag
	}
	if !known {
		return "", fmt.Errorf("profile %s: unknown key %q (known: %s, and sections %s)", path, where, strings.Join(profileFlags, ", "), "buyer, contributor, admin, audit, dataset, app")
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("profile %s: %q must be a string", path, where)
	}
	return s, nil
}

// lookup returns the profile's value of flag for group, a section's value
// first, with relative paths resolved against the profile's directory.
func (p *profile) lookup(group, flag string) (string, bool) {
	if p == nil {
		return "", false
	}
	v, ok := p.sections[group][flag]
	if !ok {
		v, ok = p.values[flag]
	}
	if ok && pathFlags[flag] && v != "" && !filepath.IsAbs(v) {
		v = filepath.Join(p.dir, v)
	}
	return v, ok
}

// applyClientConfig fills cmd's unset connection flags from the environment
// and the profile. It runs before every command (root's PersistentPreRunE).
func applyClientConfig(cmd *cobra.Command) error {
	group := cmd
	for group.HasParent() && group.Parent().HasParent() {
		group = group.Parent()
	}
	if !group.HasParent() || !profileGroups[group.Name()] {
		return nil
	}
	var prof *profile
	var profErr error
	loaded := false
	for _, name := range profileFlags {
		f := cmd.Flags().Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		if v, ok := os.LookupEnv(envName(name)); ok && v != "" {
			if err := setFlag(cmd.Flags(), f, v, envName(name)); err != nil {
				return err
			}
			continue
		}
		if name == "token-file" && os.Getenv(buyerTokenEnv) != "" {
			continue // the token itself, from the environment, beats a profile's file
		}
		if !loaded {
			prof, profErr = loadProfile()
			loaded = true
		}
		if profErr != nil {
			return usageError{profErr}
		}
		if v, ok := prof.lookup(group.Name(), name); ok {
			if err := setFlag(cmd.Flags(), f, v, "the profile"); err != nil {
				return err
			}
		}
	}
	return nil
}

func setFlag(fs *pflag.FlagSet, f *pflag.Flag, v, from string) error {
	if err := fs.Set(f.Name, v); err != nil {
		return usageError{fmt.Errorf("--%s from %s: %w", f.Name, from, err)}
	}
	return nil
}
