package renderer

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Wave is one wave of a rollout: the sites its selector picks, and how a
// revision goes through them.
type Wave struct {
	metav1.LabelSelector `json:",inline"`
	WavePolicy           `json:",inline"`
}

// WavePolicy says how a revision goes through the sites of a wave. Set on
// spec.rollout, it is every wave's default; a wave's own fields win.
type WavePolicy struct {
	// Soak is how long every site of the wave must stay Ready at the
	// revision before the next wave is released.
	Soak *metav1.Duration `json:"soak,omitempty"`
	// MaxFailures is how many sites of the wave may fail (Failed or
	// Unreachable at the revision) before the rollout halts: a count or a
	// percentage of the wave's sites, rounded down; 0 by default.
	MaxFailures *intstr.IntOrString `json:"maxFailures,omitempty"`
	// MaxConcurrency is how many sites of the wave are updated at once: a
	// count or a percentage, rounded up; every site by default.
	MaxConcurrency *intstr.IntOrString `json:"maxConcurrency,omitempty"`
	// ProgressDeadline halts the rollout when the wave is not Ready this
	// long after it was released.
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`
	// Approve makes the wave wait for an explicit approval (tandem
	// rollout approve) before it is released.
	Approve *bool `json:"approve,omitempty"`
}

// Policy is a wave's policy resolved against the rollout's defaults, with
// counts for a wave of n sites.
type Policy struct {
	Soak, ProgressDeadline      time.Duration
	MaxFailures, MaxConcurrency int
	Approve                     bool
}

// Policy returns the policy of wave i of the solution's rollout, for a
// wave of n sites; i may be len(Waves), the wave of the sites no wave
// selects, which follows the defaults.
func (s *Solution) Policy(i, n int) Policy {
	p := s.Spec.Rollout.WavePolicy
	if i < len(s.Spec.Rollout.Waves) {
		p = p.with(s.Spec.Rollout.Waves[i].WavePolicy)
	}
	out := Policy{MaxConcurrency: n}
	if p.Soak != nil {
		out.Soak = p.Soak.Duration
	}
	if p.ProgressDeadline != nil {
		out.ProgressDeadline = p.ProgressDeadline.Duration
	}
	if p.Approve != nil {
		out.Approve = *p.Approve
	}
	if p.MaxFailures != nil {
		out.MaxFailures, _ = intstr.GetScaledValueFromIntOrPercent(p.MaxFailures, n, false)
	}
	if p.MaxConcurrency != nil {
		out.MaxConcurrency, _ = intstr.GetScaledValueFromIntOrPercent(p.MaxConcurrency, n, true)
		out.MaxConcurrency = max(out.MaxConcurrency, 1)
	}
	return out
}

// with returns p with the fields o sets.
func (p WavePolicy) with(o WavePolicy) WavePolicy {
	if o.Soak != nil {
		p.Soak = o.Soak
	}
	if o.MaxFailures != nil {
		p.MaxFailures = o.MaxFailures
	}
	if o.MaxConcurrency != nil {
		p.MaxConcurrency = o.MaxConcurrency
	}
	if o.ProgressDeadline != nil {
		p.ProgressDeadline = o.ProgressDeadline
	}
	if o.Approve != nil {
		p.Approve = o.Approve
	}
	return p
}

// validateRollout checks the waves' selectors and every policy field.
func (l *loader) validateRollout(s *Solution) {
	f, pos := s.File, s.pos
	l.validatePolicy(s, s.Spec.Rollout.WavePolicy, "spec.rollout")
	for i := range s.Spec.Rollout.Waves {
		field := fmt.Sprintf("spec.rollout.waves[%d]", i)
		if _, err := metav1.LabelSelectorAsSelector(&s.Spec.Rollout.Waves[i].LabelSelector); err != nil {
			l.addErr(f, pos, field, err)
		}
		l.validatePolicy(s, s.Spec.Rollout.Waves[i].WavePolicy, field)
	}
}

func (l *loader) validatePolicy(s *Solution, p WavePolicy, field string) {
	f, pos := s.File, s.pos
	for name, d := range map[string]*metav1.Duration{"soak": p.Soak, "progressDeadline": p.ProgressDeadline} {
		if d != nil && d.Duration <= 0 {
			l.add(f, pos, field+"."+name, "%s must be > 0", d.Duration)
		}
	}
	for name, v := range map[string]*intstr.IntOrString{"maxFailures": p.MaxFailures, "maxConcurrency": p.MaxConcurrency} {
		if v == nil {
			continue
		}
		switch {
		case v.Type == intstr.Int && v.IntVal < 0, v.Type == intstr.Int && name == "maxConcurrency" && v.IntVal == 0:
			l.add(f, pos, field+"."+name, "%d must be %s", v.IntVal, map[bool]string{true: "≥ 1", false: "≥ 0"}[name == "maxConcurrency"])
		case v.Type == intstr.String:
			pct, ok := strings.CutSuffix(v.StrVal, "%")
			var n int
			if _, err := fmt.Sscanf(pct, "%d", &n); !ok || err != nil || n < 0 || n > 100 || fmt.Sprint(n) != pct {
				l.add(f, pos, field+"."+name, "%q must be a count or a percentage from 0%% to 100%%", v.StrVal)
			}
		}
	}
}
