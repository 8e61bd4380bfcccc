package renderer

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// maxSymlinks bounds symlink resolution, as the kernel's ELOOP does.
const maxSymlinks = 40

// repoPath checks that p, a path written in a descriptor, names a place
// inside the repository, and returns it in io/fs form ("tiers/edge").
// Symlinks along the way are followed, when fsys can read them, and must
// stay inside the repository too: a config repo must not be able to make
// tandem read files of the machine it runs on.
func repoPath(fsys fs.FS, p string) (string, error) {
	if p == "" {
		return "", errors.New("path is empty")
	}
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || (len(p) > 1 && p[1] == ':') {
		return "", fmt.Errorf("path %q is absolute; paths are relative to the repository root", p)
	}
	clean := path.Clean(p)
	if escapes(clean) {
		return "", fmt.Errorf("path %q escapes the repository", p)
	}
	return resolveLinks(fsys, clean, p)
}

func escapes(clean string) bool { return clean == ".." || strings.HasPrefix(clean, "../") }

// resolveLinks follows the symlinks in clean, a cleaned relative path, and
// returns the path they lead to, refusing any that leads outside.
func resolveLinks(fsys fs.FS, clean, original string) (string, error) {
	rl, ok := fsys.(fs.ReadLinkFS)
	if !ok || clean == "." {
		return clean, nil
	}
	parts := strings.Split(clean, "/")
	for hops, i := 0, 0; i < len(parts); i++ {
		prefix := path.Join(parts[:i+1]...)
		info, err := rl.Lstat(prefix)
		if err != nil {
			return path.Join(parts...), nil // missing: callers report it as such
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if hops++; hops > maxSymlinks {
			return "", fmt.Errorf("path %q has too many levels of symlinks", original)
		}
		target, err := rl.ReadLink(prefix)
		if err != nil {
			return "", fmt.Errorf("path %q: %w", original, err)
		}
		if path.IsAbs(target) {
			return "", fmt.Errorf("path %q: symlink %s points outside the repository, to %s", original, prefix, target)
		}
		resolved := path.Join(path.Dir(prefix), target)
		if escapes(resolved) {
			return "", fmt.Errorf("path %q: symlink %s points outside the repository, to %s", original, prefix, target)
		}
		rest := parts[i+1:]
		parts = append(strings.Split(resolved, "/"), rest...)
		if resolved == "." {
			parts = rest
		}
		i = -1
		if len(parts) == 0 {
			return ".", nil
		}
	}
	return path.Join(parts...), nil
}
