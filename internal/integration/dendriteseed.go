package integration

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A seed is a copy of a stopped Dendrite's data (SQLite databases,
// signing key, search index, media) that a later homeserver starts from:
// benchmarks build an expensive state once (a room of 10,000 members
// takes Dendrite an hour) and reuse it. Only SQLite homeservers have
// one; the config, log and JetStream (in memory) are not part of it.

// WithSeed starts the homeserver from the data in dir, written by
// [Dendrite.SaveSeed] from a homeserver of the same Dendrite build: its
// databases and signing key replace the fresh ones before the first
// start.
func WithSeed(dir string) DendriteOption {
	return func(o *dendriteOptions) { o.seed = dir }
}

// seedEntry reports whether a file or directory at the top of a data
// directory belongs to a seed.
func seedEntry(name string) bool {
	switch {
	case strings.HasPrefix(name, "dendrite_") && (strings.HasSuffix(name, ".db") ||
		strings.HasSuffix(name, ".db-wal") || strings.HasSuffix(name, ".db-shm")):
		return true
	case name == "matrix_key.pem", name == "searchindex", name == "media":
		return true
	}
	return false
}

// SaveSeed copies the homeserver's data to dir (created; it must not
// exist yet) for [WithSeed]. The homeserver must be stopped
// ([Dendrite.Stop]), so the databases are complete on disk.
func (d *Dendrite) SaveSeed(dir string) error {
	if d.Running() {
		return errors.New("save seed: dendrite is running")
	}
	return copySeed(d.dir, dir)
}

// copySeed copies the seed entries of data directory from into to,
// which must not exist: it is written under a temporary name and renamed
// at the end, so an interrupted copy leaves no partial seed.
func copySeed(from, to string) error {
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("copy seed: %s exists", to)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return fmt.Errorf("copy seed: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(to), filepath.Base(to)+".partial-")
	if err != nil {
		return fmt.Errorf("copy seed: %w", err)
	}
	if err := copyEntries(from, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, to); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("copy seed: %w", err)
	}
	return nil
}

// copyEntries copies the seed entries of directory from into the
// existing directory to, replacing files of the same name.
func copyEntries(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return fmt.Errorf("copy seed: %w", err)
	}
	n := 0
	for _, e := range entries {
		if !seedEntry(e.Name()) {
			continue
		}
		n++
		if err := copyTree(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return fmt.Errorf("copy seed %s: %w", e.Name(), err)
		}
	}
	if n == 0 {
		return fmt.Errorf("copy seed: no Dendrite data in %s", from)
	}
	return nil
}

// copyTree copies the file or directory tree src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
