package renderer

import (
	"context"
	"strings"
	"testing"
)

// FuzzPolicyRule compiles the fuzzer's string as a policy rule and, when
// it compiles, evaluates it on a Deployment at a site. Whatever the
// expression, neither may panic, and the cost limit must end the
// evaluation; a failure must say what went wrong.
func FuzzPolicyRule(f *testing.F) {
	for _, b := range BaselineRules() {
		f.Add(b.Expression)
	}
	o := objects(f, strings.Replace(deployment("till"), "image: example.com/till:1", "image: example.com/till:1, securityContext: {privileged: true}", 1))[0]
	vars, _ := policyVars(o, policySite{Name: "a", Labels: map[string]string{"tier": "edge"}, Weight: 2, Cluster: "a"}, []string{"example.com"})
	f.Fuzz(func(t *testing.T, expression string) {
		program, err := compileRule(expression)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("compileRule(%q) failed with an empty error", expression)
			}
			return
		}
		rule := &policyRule{name: "fuzz", message: expression, program: program}
		msg, _ := rule.check(context.Background(), vars)
		if msg != "" && !strings.Contains(msg, "rule fuzz") {
			t.Errorf("check(%q) = %q; want it to name the rule", expression, msg)
		}
	})
}
