package reconciler

import (
	"fmt"
	"strings"
)

// dependencies resolves the dependsOn of a cluster's tier sets: for each,
// the indexes of the tier sets it waits for. A dependency on a tier the
// cluster does not run constrains nothing there. A tier set on a dependency
// cycle gets an error naming the cycle, and waits for nothing.
func dependencies(tiers []TierSet) ([][]int, []error) {
	index := make(map[[2]string]int, len(tiers))
	for i, t := range tiers {
		index[[2]string{t.Solution, t.Tier}] = i
	}
	deps := make([][]int, len(tiers))
	for i, t := range tiers {
		for _, d := range t.DependsOn {
			if j, ok := index[[2]string{t.Solution, d}]; ok {
				deps[i] = append(deps[i], j)
			}
		}
	}

	errs := make([]error, len(tiers))
	const (
		unvisited = iota
		visiting
		visited
	)
	state := make([]int, len(tiers))
	var path []int
	var visit func(i int)
	visit = func(i int) {
		state[i] = visiting
		path = append(path, i)
		for _, j := range deps[i] {
			switch state[j] {
			case unvisited:
				visit(j)
			case visiting:
				start := len(path) - 1
				for path[start] != j {
					start--
				}
				cycle := path[start:]
				names := make([]string, 0, len(cycle)+1)
				for _, k := range cycle {
					names = append(names, tiers[k].Tier)
				}
				names = append(names, tiers[j].Tier)
				for _, k := range cycle {
					errs[k] = fmt.Errorf("tier %s of solution %s: dependency cycle %s",
						tiers[k].Tier, tiers[k].Solution, strings.Join(names, " → "))
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = visited
	}
	for i := range tiers {
		if state[i] == unvisited {
			visit(i)
		}
	}
	for i := range deps {
		if errs[i] != nil {
			deps[i] = nil
		}
	}
	return deps, errs
}
