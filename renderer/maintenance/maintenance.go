// Package maintenance computes a site's maintenance windows: the times at
// which a rollout may change what the site runs. A window opens at each
// activation of a cron schedule, read in the window's time zone, and stays
// open for a duration of elapsed time. The renderer compiles a Site's
// windows into a Schedule when it loads the repository; the rollout asks the
// Schedule, at an instant it is given, whether the site is open and when it
// next opens. Nothing here reads a clock.
package maintenance

import (
	"errors"
	"fmt"
	"strings"
	"time"

	// The zones must load the same on a machine without a zoneinfo
	// directory, such as a distroless image, as on a workstation.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// MaxDuration bounds a window's duration: a window is a part of a week, and
// a longer one would overlap itself on a weekly schedule.
const MaxDuration = 7 * 24 * time.Hour

// maxPeriod bounds how far Next follows windows that overlap or adjoin end
// to end, so that a schedule that never closes is answered in bounded time.
const maxPeriod = 8 * 24 * time.Hour

// Window is one maintenance window as a descriptor declares it.
type Window struct {
	// Schedule is a standard five-field cron expression (minute, hour,
	// day of month, month, day of week) giving the times the window opens.
	// As cron does, a window due to open in the hour a change to summer
	// time skips does not open that day, and one due in the hour a change
	// to winter time repeats opens at both, the two making one period.
	Schedule string
	// Duration is how long the window stays open, in elapsed time: a
	// window of 4h over a change from summer to winter time ends at a wall
	// clock time an hour earlier than on other days.
	Duration time.Duration
	// TimeZone is the IANA time zone the schedule is read in, such as
	// Europe/Berlin (default UTC).
	TimeZone string
}

// Error is a problem with one window passed to Parse. Index is the window's
// position and Field the window's field at fault ("schedule", "duration" or
// "timeZone"), so that callers can point at the descriptor line that
// declared it.
type Error struct {
	Index int
	Field string
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("windows[%d].%s: %v", e.Index, e.Field, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Schedule is the compiled maintenance windows of one site. The zero
// Schedule has no windows and is always open. A Schedule is safe for
// concurrent use.
type Schedule struct {
	windows []window
}

type window struct {
	opens    cron.Schedule
	duration time.Duration
}

// parser reads the standard five fields and nothing else: no seconds, and
// no descriptors, since @every counts from whenever it is asked, not from
// the calendar.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Parse compiles windows into a Schedule. It returns every problem it
// finds, each as an *Error, joined with errors.Join.
func Parse(windows []Window) (Schedule, error) {
	var (
		s    Schedule
		errs []error
	)
	for i, w := range windows {
		fail := func(field string, err error) { errs = append(errs, &Error{Index: i, Field: field, Err: err}) }
		sched, err := parseSchedule(w.Schedule)
		if err != nil {
			fail("schedule", err)
		}
		if w.Duration <= 0 || w.Duration >= MaxDuration {
			fail("duration", fmt.Errorf("duration %s must be > 0 and less than 7 days (168h)", w.Duration))
		}
		loc, err := loadZone(w.TimeZone)
		if err != nil {
			fail("timeZone", err)
		}
		if sched == nil || loc == nil {
			continue
		}
		sched.Location = loc
		if sched.Next(time.Date(2000, time.January, 1, 0, 0, 0, 0, loc)).IsZero() {
			fail("schedule", fmt.Errorf("schedule %q never activates", w.Schedule))
			continue
		}
		s.windows = append(s.windows, window{opens: sched, duration: w.Duration})
	}
	if len(errs) > 0 {
		return Schedule{}, errors.Join(errs...)
	}
	return s, nil
}

func parseSchedule(spec string) (*cron.SpecSchedule, error) {
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("schedule %q names a time zone: give it in timeZone", spec)
	}
	if n := len(strings.Fields(spec)); n != 5 {
		return nil, fmt.Errorf("schedule %q: want five fields (minute hour day-of-month month day-of-week), such as \"0 22 * * *\"", spec)
	}
	sched, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return sched.(*cron.SpecSchedule), nil
}

// loadZone loads an IANA zone. "Local" is refused: the same descriptor
// would mean a different time on every machine that reads it.
func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, errors.New(`time zone "Local" depends on the machine: name an IANA zone such as Europe/Berlin`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: want an IANA zone such as Europe/Berlin", name)
	}
	return loc, nil
}

// Always reports whether s has no windows, so that a site is always open.
func (s Schedule) Always() bool { return len(s.windows) == 0 }

// Open reports whether any window of s is open at t. A window is open from
// the instant it opens until, not including, the instant it closes.
func (s Schedule) Open(t time.Time) bool {
	if s.Always() {
		return true
	}
	for _, w := range s.windows {
		if opens, _ := w.first(t); !opens.IsZero() && !opens.After(t) {
			return true
		}
	}
	return false
}

// Next returns the next time s is open, at or after t: opens is when it
// opens (when s is open at t, when the earliest window open at t opened),
// and closes is when it next closes after that, windows that overlap or
// adjoin taken together. Both are in t's location. A schedule that stays open without a break for
// more than eight days is reported as closing eight days after opens. For
// a schedule that is always open, Next returns t and the zero time; for
// one whose windows never open again, two zero times.
func (s Schedule) Next(t time.Time) (opens, closes time.Time) {
	if s.Always() {
		return t, time.Time{}
	}
	// next holds each window's earliest occurrence that has not closed by
	// t, or a zero time for a window that never opens again.
	next := make([]time.Time, len(s.windows))
	for i, w := range s.windows {
		next[i], _ = w.first(t)
		if !next[i].IsZero() && (opens.IsZero() || next[i].Before(opens)) {
			opens = next[i]
		}
	}
	if opens.IsZero() {
		return time.Time{}, time.Time{}
	}
	closes = opens
	limit := opens.Add(maxPeriod)
	for extended := true; extended; {
		extended = false
		for i, w := range s.windows {
			for !next[i].IsZero() && !next[i].After(closes) && closes.Before(limit) {
				if end := next[i].Add(w.duration); end.After(closes) {
					closes = end
				}
				next[i] = w.opens.Next(next[i])
				extended = true
			}
		}
	}
	if closes.After(limit) {
		closes = limit
	}
	return opens, closes
}

// first returns when w's earliest occurrence that has not closed by t
// opens and closes, or zero times if w never opens again.
func (w window) first(t time.Time) (opens, closes time.Time) {
	// cron's Next is strictly after its argument, and an occurrence that
	// opened at t-duration closed at t.
	opens = w.opens.Next(t.Add(-w.duration))
	if opens.IsZero() {
		return time.Time{}, time.Time{}
	}
	return opens, opens.Add(w.duration)
}
