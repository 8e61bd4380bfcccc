package reconciler

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDigestChangesWithWhatTheClusterRunsAndWhoOwnsIt(t *testing.T) {
	base := func() Target {
		return Target{Cluster: "plant-a", AllowEmpty: []string{"shop"}, Tiers: []TierSet{
			{Solution: "shop", Tier: "edge", Revision: "main@sha1:aaa", DependsOn: []string{"platform"},
				Objects: []*unstructured.Unstructured{namespace("shop"), deployment("shop", "till", 2)}},
			{Solution: "shop", Tier: "platform", Revision: "main@sha1:aaa", Objects: []*unstructured.Unstructured{namespace("shop")}},
		}}
	}
	want, err := Digest(base(), "git.example/config@main")
	if err != nil {
		t.Fatal(err)
	}
	same := base()
	same.Tiers[0].Revision, same.Tiers[1].Revision = "site-a@sha1:aaa", "site-a@sha1:aaa"
	same.Tiers[0], same.Tiers[1] = same.Tiers[1], same.Tiers[0]
	if got, _ := Digest(same, "git.example/config@main"); got != want {
		t.Errorf("the digest changed with the revision's name or the tiers' order: %s, want %s", got, want)
	}

	for _, tc := range []struct {
		name     string
		change   func(*Target)
		instance string
	}{
		{"another instance", func(*Target) {}, "git.example/config@site-a"},
		{"another cluster", func(t *Target) { t.Cluster = "plant-b" }, ""},
		{"a replica count", func(t *Target) { t.Tiers[0].Objects[1] = deployment("shop", "till", 3) }, ""},
		{"an object less", func(t *Target) { t.Tiers[0].Objects = t.Tiers[0].Objects[:1] }, ""},
		{"a dependency", func(t *Target) { t.Tiers[0].DependsOn = nil }, ""},
		{"waiting for health", func(t *Target) { t.Tiers[0].NoWait = true }, ""},
		{"adoption", func(t *Target) { t.Tiers[1].Adopt = true }, ""},
		{"an empty render allowed", func(t *Target) { t.AllowEmpty = nil }, ""},
		{"a tier renamed", func(t *Target) { t.Tiers[1].Tier = "base" }, ""},
	} {
		target := base()
		tc.change(&target)
		instance := tc.instance
		if instance == "" {
			instance = "git.example/config@main"
		}
		got, err := Digest(target, instance)
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			t.Errorf("%s: the digest did not change", tc.name)
		}
	}
}
