package main

import (
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/tandem-gitops/tandem/sources"
)

// instanceFlags say which tandem instance a command acts as: the owner
// recorded on every ApplySet parent it writes, and whether it may take
// over what another instance owns.
type instanceFlags struct {
	name     string
	takeOver bool
}

func (i *instanceFlags) register(f *pflag.FlagSet, writes bool) {
	if !writes {
		f.StringVar(&i.name, "instance", "", "with --live, compare as tandem instance `NAME`: show the tiers another instance owns as conflicts, and plan the pruning of this one's removed tiers (default: compare the tiers the head renders, whoever owns them)")
		return
	}
	f.StringVar(&i.name, "instance", "", "act as tandem instance `NAME`, the owner recorded on the ApplySet parents of every cluster (default: the repository, ref and path followed, as host/path@ref)")
	f.BoolVar(&i.takeOver, "take-over", false, "take over the solutions and tiers this revision renders from whichever tandem instance owns them on a cluster; drop the flag once they are handed over, or two instances both given it take them from each other")
}

// orDerived returns the --instance name, or the identity derived from what
// the command follows.
func (i *instanceFlags) orDerived(derived string) string {
	if i.name != "" {
		return i.name
	}
	return derived
}

// localIdentity is the identity of a config repository on disk: of the Git
// checkout it is in, or of the directory itself.
func localIdentity(dir string) string {
	if repo, err := sources.OpenLocal(dir); err == nil {
		defer repo.Close()
		if id, err := repo.Identity(); err == nil {
			return id
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return "dir:" + abs
}
