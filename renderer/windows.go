package renderer

import (
	"errors"
	"fmt"

	"github.com/tandem-gitops/tandem/renderer/maintenance"
)

// Windows returns the site's maintenance windows, compiled when the
// repository was loaded. A site without windows is always open.
func (s *Site) Windows() maintenance.Schedule { return s.windows }

// validateWindows hands the site's windows to the maintenance package, the
// one authority on what a window may say, and points its findings at the
// descriptor lines.
func (l *loader) validateWindows(s *Site) {
	ws := make([]maintenance.Window, len(s.Spec.Windows))
	for i, w := range s.Spec.Windows {
		ws[i] = maintenance.Window{Schedule: w.Schedule, Duration: w.Duration.Duration, TimeZone: w.TimeZone}
	}
	sched, err := maintenance.Parse(ws)
	if err == nil {
		s.windows = sched
		return
	}
	for _, e := range unwrapAll(err) {
		field := "spec.windows"
		var we *maintenance.Error
		if errors.As(e, &we) {
			field, e = fmt.Sprintf("spec.windows[%d].%s", we.Index, we.Field), we.Err
		}
		l.addErr(s.File, s.pos, field, e)
	}
}
