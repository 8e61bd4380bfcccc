package renderer

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"strings"
)

// observation is one question a kustomize build asked of the repository
// and the answer it got, so that a later revision can be asked the same
// and a build reused when every answer is the same.
type observation struct {
	op     readOp
	path   string
	answer string
}

type readOp uint8

const (
	opStat readOp = iota
	opReadDir
	opGlob
	opReadFile
)

// reads records what a build asks of a kustomizeFS. A build that walks a
// directory tree cannot be reused: it is not recorded.
type reads struct {
	seen   []observation
	walked bool
}

func (k *kustomizeFS) record(op readOp, p, answer string) {
	if k.reads != nil {
		k.reads.seen = append(k.reads.seen, observation{op, p, answer})
	}
}

// same reports whether k answers every observation as it was answered.
func (k *kustomizeFS) same(seen []observation) bool {
	for _, o := range seen {
		if k.answer(o.op, o.path) != o.answer {
			return false
		}
	}
	return true
}

// answer asks k's repository what op asks of p, without recording it, and
// says the answer as record was given it.
func (k *kustomizeFS) answer(op readOp, p string) string {
	switch op {
	case opStat:
		r, info, err := k.stat(p)
		return statAnswer(r, info, err)
	case opReadDir:
		names, err := k.readDir(p)
		return listAnswer(names, err)
	case opGlob:
		matches, err := k.glob(p)
		return listAnswer(matches, err)
	default:
		r, info, err := k.stat(p)
		if err != nil {
			return statAnswer(r, info, err)
		}
		data, err := fs.ReadFile(k.fsys, r)
		return fileAnswer(data, err)
	}
}

// statAnswer says where p led, whether it is a directory and, for a
// file, its size: a directory's size depends on the file system, not on
// what it holds.
func statAnswer(r string, info fs.FileInfo, err error) string {
	switch {
	case err != nil:
		return "error " + err.Error()
	case info.IsDir():
		return r + " dir"
	default:
		return fmt.Sprintf("%s file %d", r, info.Size())
	}
}

func listAnswer(names []string, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	return strings.Join(names, "\x00")
}

func fileAnswer(data []byte, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	sum := sha256.Sum256(data)
	return string(sum[:])
}
