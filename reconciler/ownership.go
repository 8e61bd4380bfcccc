package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/renderer"
)

// Annotations a live object may carry to steer a pass.
const (
	// PruneAnnotation set to PruneDisabled on a live object keeps it when a
	// render no longer contains it: it leaves the ApplySet instead of being
	// deleted.
	PruneAnnotation = "tandem.dev/prune"
	// PruneDisabled is the value of PruneAnnotation that orphans an object.
	PruneDisabled = "disabled"
	// AdoptAnnotation set to "true" on a live object lets a render take
	// it over although tandem did not create it.
	AdoptAnnotation = "tandem.dev/adopt"
)

// errConflict marks a tier refused because what it would write belongs to
// someone else.
var errConflict = errors.New("conflict")

// Ignored is an object carrying an ApplySet's label that a pass left alone
// because it is not provably a member, and why.
type Ignored struct {
	// Subject is the object, as Kind/namespace/name.
	Subject string `json:"subject"`
	Reason  string `json:"reason"`
}

// Adopted is an object that existed before a pass first applied it, which
// the pass took over because its tier or the object allows it.
type Adopted struct {
	// Subject is the object, as Kind/namespace/name.
	Subject string `json:"subject"`
	// Previous is the object as it was before, as JSON without managed
	// fields and with a Secret's values masked.
	Previous string `json:"previous"`
}

// checkOwner refuses a (solution, tier) whose parent another instance owns,
// unless the pass takes it over. A parent that names no owner was written
// before owners were recorded, and is claimed.
func (p *tierPass) checkOwner() error {
	owner := p.last().Owner
	if owner == "" || owner == p.opts.Instance {
		return nil
	}
	if p.opts.TakeOver {
		p.log.Warn("taking over from another tandem instance", "owner", owner, "instance", p.opts.Instance)
		return nil
	}
	return fmt.Errorf("%w: solution %s tier %s is owned on cluster %s by tandem instance %q (ApplySet parent Secret/%s/%s), not by this instance %q; nothing applied or pruned: stop the other instance, or run this one with --take-over to hand the tier over",
		errConflict, p.set.Solution, p.set.Tier, p.cluster.Name(), owner, applyset.Namespace, p.parentName, p.opts.Instance)
}

// foreign reports whether the parent belongs to another instance or
// another tool, so that the pass must not write it.
func (p *tierPass) foreign() bool {
	last := p.last()
	if !applyset.OwnedByTandem(last.Tooling) {
		return true
	}
	owner := last.Owner
	return owner != "" && owner != p.opts.Instance && !p.opts.TakeOver
}

// members sorts what the ApplySet label lists into the members a pass may
// update and prune, and objects that only carry the label, which it leaves
// alone: those in namespaces the ApplySet neither records nor renders
// into, and those tandem's field manager never applied. A label is easily
// copied (kubectl get -o yaml), and deleting a copy would be losing data.
func (p *tierPass) members(desired, listed map[object.ObjMetadata]*unstructured.Unstructured) (map[object.ObjMetadata]*unstructured.Unstructured, map[object.ObjMetadata]Ignored) {
	namespaces := map[string]bool{"": true}
	for _, ns := range p.last().Namespaces {
		namespaces[ns] = true
	}
	for key := range desired {
		namespaces[key.Namespace] = true
	}
	live := make(map[object.ObjMetadata]*unstructured.Unstructured, len(listed))
	ignored := make(map[object.ObjMetadata]Ignored)
	for key, obj := range listed {
		switch {
		case !namespaces[key.Namespace]:
			ignored[key] = Ignored{utils.FmtObjMetadata(key),
				fmt.Sprintf("it carries the ApplySet label of %s but is in namespace %s, which the ApplySet does not hold", p.parentName, key.Namespace)}
		case !appliedBy(obj, p.opts.FieldManager):
			ignored[key] = Ignored{utils.FmtObjMetadata(key),
				fmt.Sprintf("it carries the ApplySet label of %s but field manager %s never applied it", p.parentName, p.opts.FieldManager)}
		default:
			live[key] = obj
		}
	}
	return live, ignored
}

// appliedBy reports whether manager has server-side applied fields of obj.
func appliedBy(obj *unstructured.Unstructured, manager string) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

// checkAdoption looks at the desired objects that are not members yet: an
// object of that name may already exist. One tandem applied (moving from
// another tier of this instance, or left behind on purpose) is taken over;
// one another instance's ApplySet holds is a conflict; any other is adopted
// only when the tier or the object allows it, and otherwise a conflict.
// ignored holds the listed objects that carry the label without being
// members; those the render claims leave it. It returns the adoptions, and
// an error naming every conflict.
func (p *tierPass) checkAdoption(ctx context.Context, desired, live map[object.ObjMetadata]*unstructured.Unstructured, ignored map[object.ObjMetadata]Ignored, listed map[object.ObjMetadata]*unstructured.Unstructured) ([]Adopted, error) {
	var missing []object.ObjMetadata
	for _, key := range slices.SortedFunc(maps.Keys(desired), compareObjects) {
		if _, ok := live[key]; !ok {
			missing = append(missing, key)
		}
	}
	existing := make([]*unstructured.Unstructured, len(missing))
	var g errgroup.Group
	g.SetLimit(clusters.Concurrency)
	for i, key := range missing {
		if obj, ok := listed[key]; ok {
			existing[i] = obj
			delete(ignored, key)
			continue
		}
		g.Go(func() error {
			obj := &unstructured.Unstructured{}
			obj.SetGroupVersionKind(desired[key].GroupVersionKind())
			err := p.cluster.Client().Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.Name}, obj)
			switch {
			case err == nil:
				existing[i] = obj
			case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
			default:
				return fmt.Errorf("%s read failed: %w", utils.FmtObjMetadata(key), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	var adopted []Adopted
	var held, unmanaged []string
	for i, obj := range existing {
		if obj == nil {
			continue
		}
		subject := utils.FmtObjMetadata(missing[i])
		if holder := p.holders[obj.GetLabels()[applyset.PartOfLabel]]; holder != nil && holder.Name != p.parentName {
			if owner := holder.Annotations[applyset.OwnerAnnotation]; owner != "" && owner != p.opts.Instance {
				held = append(held, fmt.Sprintf("%s belongs to solution %s tier %s of tandem instance %q",
					subject, holder.Labels[renderer.LabelSolution], holder.Labels[renderer.LabelTier], owner))
				continue
			}
		}
		if appliedBy(obj, p.opts.FieldManager) {
			continue
		}
		if !p.set.Adopt && obj.GetAnnotations()[AdoptAnnotation] != "true" {
			unmanaged = append(unmanaged, fmt.Sprintf("%s exists and was not created by tandem", subject))
			continue
		}
		adopted = append(adopted, Adopted{Subject: subject, Previous: previousState(obj)})
	}
	var errs []error
	if len(held) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s; nothing applied: remove it from that tier first",
			errConflict, strings.Join(held, "; ")))
	}
	if len(unmanaged) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s; nothing applied: set adopt: true on tier %s of solution %s, or annotate the object %s=true, to take it over",
			errConflict, strings.Join(unmanaged, "; "), p.set.Tier, p.set.Solution, AdoptAnnotation))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return adopted, nil
}

// lastApplied is the annotation in which kubectl apply keeps the whole
// object it applied, a Secret's values included.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// previousState is an object as an adoption records it: JSON, without
// managed fields, with a Secret's values masked and without the copy of it
// kubectl apply keeps.
func previousState(obj *unstructured.Unstructured) string {
	prev := obj.DeepCopy()
	prev.SetManagedFields(nil)
	if a := prev.GetAnnotations(); a[lastApplied] != "" {
		delete(a, lastApplied)
		prev.SetAnnotations(a)
	}
	if utils.IsSecret(prev) {
		maskValues(prev, "data")
		maskValues(prev, "stringData")
	}
	data, err := json.Marshal(prev.Object)
	if err != nil {
		return fmt.Sprintf("(not encodable: %v)", err)
	}
	return string(data)
}
