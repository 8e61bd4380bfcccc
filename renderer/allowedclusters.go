package renderer

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// checkClusterPattern checks an entry of spec.policy.allowedClusters: a
// cluster name, or a path.Match pattern of cluster names.
func checkClusterPattern(p string) error {
	if strings.ContainsAny(p, `*?[\`) {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
		return nil
	}
	if msgs := validation.IsDNS1123Subdomain(p); len(msgs) > 0 {
		return fmt.Errorf("%q: %s", p, strings.Join(msgs, "; "))
	}
	return nil
}

// clusterAllowed reports whether cluster matches an entry of allowed.
func clusterAllowed(allowed []string, cluster string) bool {
	return slices.ContainsFunc(allowed, func(p string) bool {
		ok, err := path.Match(p, cluster)
		return ok && err == nil
	})
}

// validateAllowedClusters refuses each Site that a site tier of a solution
// with spec.policy.allowedClusters selects while its cluster is not
// allowed. Such a site is most often one that names, by mistake or not,
// a cluster the platform keeps for itself, such as the management cluster.
func (l *loader) validateAllowedClusters(cfg *Config) {
	for _, site := range cfg.Sites {
		for _, sol := range cfg.Solutions {
			allowed := sol.Spec.Policy.AllowedClusters
			if len(allowed) == 0 || slices.ContainsFunc(allowed, func(p string) bool { return checkClusterPattern(p) != nil }) ||
				clusterAllowed(allowed, site.Spec.Cluster) {
				continue
			}
			i := slices.IndexFunc(sol.Spec.Tiers, func(t Tier) bool { return t.Selects(site) })
			if i < 0 {
				continue
			}
			why := ""
			if j := slices.IndexFunc(sol.Spec.Tiers, func(t Tier) bool { return slices.Contains(t.Targets.Clusters, site.Spec.Cluster) }); j >= 0 {
				why = fmt.Sprintf(", and tier %s runs there by name", sol.Spec.Tiers[j].Name)
			}
			// A cluster left to default to the site's name is where the
			// name is.
			line := cmp.Or(site.pos.line("spec.cluster"), site.pos.line("metadata.name"))
			l.errs = append(l.errs, &FieldError{File: site.File, Line: line, Field: "spec.cluster",
				Err: fmt.Errorf("cluster %q is not allowed by solution %s, whose tier %s selects site %s: spec.policy.allowedClusters is [%s]%s",
					site.Spec.Cluster, sol.Name, sol.Spec.Tiers[i].Name, site.Name, strings.Join(allowed, ", "), why)})
		}
	}
}
