package applyset

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tandem-gitops/tandem/renderer"
)

// Label and annotation keys of the ApplySet specification (KEP-3659), and
// tandem's own.
const (
	// PartOfLabel marks an object as a member of the ApplySet whose id is
	// its value.
	PartOfLabel = "applyset.kubernetes.io/part-of"
	// IDLabel marks an ApplySet parent; its value is the ApplySet id.
	IDLabel = "applyset.kubernetes.io/id"
	// ToolingAnnotation names the tool that manages an ApplySet.
	ToolingAnnotation = "applyset.kubernetes.io/tooling"
	// GroupKindsAnnotation lists the group-kinds an ApplySet's members may
	// have, so pruning lists exactly those.
	GroupKindsAnnotation = "applyset.kubernetes.io/contains-group-kinds"
	// NamespacesAnnotation lists the namespaces other than the parent's that
	// hold members.
	NamespacesAnnotation = "applyset.kubernetes.io/additional-namespaces"

	// RevisionAnnotation records on a parent the revision last applied in
	// full.
	RevisionAnnotation = "tandem.dev/revision"
	// PhaseAnnotation, MessageAnnotation and SinceAnnotation record on a
	// parent the outcome of the last reconcile and when its phase began.
	PhaseAnnotation   = "tandem.dev/phase"
	MessageAnnotation = "tandem.dev/message"
	SinceAnnotation   = "tandem.dev/since"
	// OwnerAnnotation names, on an ApplySet parent, the tandem instance
	// that owns the (solution, tier). Several tandems may share a cluster:
	// teams with repositories of their own, staging and production. Each
	// has an instance name, recorded on every parent it writes, and
	// considers only its own parents.
	OwnerAnnotation = "tandem.dev/owner"
)

// Namespace holds the ApplySet parents.
const Namespace = renderer.ReservedNamespace

// MemberLabels returns the labels that make an object a member of the
// ApplySet of a (solution, tier), as a pass applies them.
func MemberLabels(solution, tier string) map[string]string {
	return map[string]string{PartOfLabel: ID(ParentName(solution, tier))}
}

// toolName is the tool part of ToolingAnnotation.
const toolName = "tandem"

// parentGroupKind is the kind of every parent, as kubectl's default.
var parentGroupKind = schema.GroupKind{Kind: "Secret"}

// ParentName returns the name of the ApplySet parent of a (solution, tier).
// Solution and tier names are DNS labels, so the dot keeps names unambiguous.
func ParentName(solution, tier string) string { return solution + "." + tier }

// ID returns the ApplySet id of the parent with the given name in
// Namespace, computed as KEP-3659 and kubectl do:
// "applyset-" + base64url(sha256("<name>.<namespace>.<kind>.<group>")) + "-v1".
func ID(parentName string) string {
	return applySetID(parentName, Namespace, parentGroupKind)
}

func applySetID(name, namespace string, gk schema.GroupKind) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{name, namespace, gk.Kind, gk.Group}, ".")))
	return fmt.Sprintf("applyset-%s-v1", base64.RawURLEncoding.EncodeToString(sum[:]))
}

// Tooling is the value of ToolingAnnotation for a tandem version.
func Tooling(version string) string {
	return toolName + "/" + "v" + strings.TrimPrefix(version, "v")
}

// OwnedByTandem reports whether a tooling annotation names tandem, whatever
// its version. An empty value is a parent no tool has claimed yet.
func OwnedByTandem(tooling string) bool {
	name, _, _ := strings.Cut(tooling, "/")
	return tooling == "" || name == toolName
}

// formatGroupKinds formats group-kinds as kubectl does: "Kind.group" (just
// "Kind" in the core group), sorted, comma-separated.
func formatGroupKinds(gks []schema.GroupKind) string {
	s := make([]string, 0, len(gks))
	for _, gk := range gks {
		s = append(s, gk.String())
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

// parseGroupKinds is the inverse of formatGroupKinds.
func parseGroupKinds(s string) []schema.GroupKind {
	var gks []schema.GroupKind
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			gks = append(gks, schema.ParseGroupKind(part))
		}
	}
	return gks
}

// formatNamespaces formats the additional-namespaces annotation: sorted,
// without duplicates, without the parent's namespace and cluster scope.
func formatNamespaces(namespaces []string) string {
	s := slices.DeleteFunc(slices.Clone(namespaces), func(ns string) bool { return ns == "" || ns == Namespace })
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

// parseList splits a comma-separated annotation value.
func parseList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
