package renderer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// siteWithWindows returns site a of the test repository with windows, a
// YAML block list indented for spec.
func siteWithWindows(windows string) map[string]string {
	return map[string]string{"sites/a.yaml": testRepo["sites/a.yaml"] + "  windows:\n" + windows}
}

func TestLoadCompilesASitesMaintenanceWindows(t *testing.T) {
	cfg, err := Load(context.Background(), repoWith(siteWithWindows(
		"  - {schedule: \"0 22 * * *\", duration: 4h, timeZone: Europe/Berlin}\n")))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Sites[0], cfg.Sites[1]
	if b.Windows().Always() != true || a.Windows().Always() {
		t.Fatalf("Always: site a %v, site b %v; want false, true", a.Windows().Always(), b.Windows().Always())
	}
	at := time.Date(2026, time.June, 10, 12, 0, 0, 0, time.UTC)
	opens, closes := a.Windows().Next(at)
	if want := time.Date(2026, time.June, 10, 20, 0, 0, 0, time.UTC); !opens.Equal(want) || closes.Sub(opens) != 4*time.Hour {
		t.Errorf("site a: Next(%v) = %v, %v; want %v for 4h", at, opens, closes, want)
	}
}

func TestLoadNamesWhereEachBadWindowIs(t *testing.T) {
	tests := []struct {
		name    string
		windows string
		want    string
	}{
		{"seconds in the schedule", "  - {schedule: \"0 0 22 * * *\", duration: 4h}\n",
			`sites/a.yaml:9: spec.windows[0].schedule: schedule "0 0 22 * * *": want five fields (minute hour day-of-month month day-of-week), such as "0 22 * * *"`},
		{"a schedule that is no cron expression", "  - {schedule: \"nightly at ten\", duration: 4h}\n",
			`sites/a.yaml:9: spec.windows[0].schedule: schedule "nightly at ten": want five fields`},
		{"a day of the week out of range", "  - {schedule: \"0 22 * * 8\", duration: 4h}\n",
			`sites/a.yaml:9: spec.windows[0].schedule: schedule "0 22 * * 8": end of range (8) above maximum (6)`},
		{"no schedule", "  - {duration: 4h}\n",
			`sites/a.yaml:9: spec.windows[0].schedule: schedule "": want five fields`},
		{"no duration", "  - {schedule: \"0 22 * * *\"}\n",
			`sites/a.yaml:9: spec.windows[0].duration: duration 0s must be > 0 and less than 7 days (168h)`},
		{"a duration of a week", "  - schedule: \"0 22 * * *\"\n    duration: 168h\n",
			`sites/a.yaml:10: spec.windows[0].duration: duration 168h0m0s must be > 0 and less than 7 days (168h)`},
		{"a negative duration", "  - {schedule: \"0 22 * * *\", duration: -1h}\n",
			`sites/a.yaml:9: spec.windows[0].duration: duration -1h0m0s must be > 0`},
		{"a duration without a unit", "  - {schedule: \"0 22 * * *\", duration: 4}\n",
			`sites/a.yaml:9: spec.windows[0].duration: want a duration such as 90s or 2m, got int "4"`},
		{"an unknown time zone", "  - {schedule: \"0 22 * * *\", duration: 4h}\n  - schedule: \"0 3 * * 0\"\n    duration: 1h\n    timeZone: Europe/Munich\n",
			`sites/a.yaml:12: spec.windows[1].timeZone: unknown time zone "Europe/Munich": want an IANA zone such as Europe/Berlin`},
		{"the machine's time zone", "  - {schedule: \"0 22 * * *\", duration: 4h, timeZone: Local}\n",
			`sites/a.yaml:9: spec.windows[0].timeZone: time zone "Local" depends on the machine`},
		{"an unknown field", "  - {schedule: \"0 22 * * *\", duration: 4h, tz: UTC}\n",
			`sites/a.yaml:9: spec.windows[0].tz: unknown field "tz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), repoWith(siteWithWindows(tt.windows)))
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Load error = %v; want a *ValidationError", err)
			}
			if len(verr.Errors) != 1 || !strings.HasPrefix(verr.Errors[0].Error(), tt.want) {
				t.Errorf("Load error =\n%v\nwant one error starting %s", err, tt.want)
			}
		})
	}
}
