package maintenance

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestScheduleOpensAndClosesAcrossDSTZonesAndBoundaries(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	kolkata := zone(t, "Asia/Kolkata")
	lordHowe := zone(t, "Australia/Lord_Howe")
	newYork := zone(t, "America/New_York")
	at := func(loc *time.Location, y int, mo time.Month, d, h, mi int) time.Time {
		return time.Date(y, mo, d, h, mi, 0, 0, loc)
	}
	nightly := []Window{{Schedule: "0 22 * * *", Duration: 4 * time.Hour, TimeZone: "Europe/Berlin"}}
	tests := []struct {
		name          string
		windows       []Window
		at            time.Time
		open          bool
		opens, closes time.Time
	}{
		{"before a window that crosses midnight", nightly, at(berlin, 2026, 6, 10, 21, 59),
			false, at(berlin, 2026, 6, 10, 22, 0), at(berlin, 2026, 6, 11, 2, 0)},
		{"at the instant a window opens", nightly, at(berlin, 2026, 6, 10, 22, 0),
			true, at(berlin, 2026, 6, 10, 22, 0), at(berlin, 2026, 6, 11, 2, 0)},
		{"after midnight inside a window", nightly, at(berlin, 2026, 6, 11, 1, 59),
			true, at(berlin, 2026, 6, 10, 22, 0), at(berlin, 2026, 6, 11, 2, 0)},
		{"at the instant a window closes", nightly, at(berlin, 2026, 6, 11, 2, 0),
			false, at(berlin, 2026, 6, 11, 22, 0), at(berlin, 2026, 6, 12, 2, 0)},
		{"asked in another zone", nightly, at(time.UTC, 2026, 6, 10, 20, 30),
			true, at(berlin, 2026, 6, 10, 22, 0), at(berlin, 2026, 6, 11, 2, 0)},
		// Europe/Berlin skips 02:00–03:00 on 29 March 2026: as cron does,
		// a window due to open in the skipped hour does not open that day.
		{"a start in the hour summer time skips", []Window{{Schedule: "30 2 * * *", Duration: time.Hour, TimeZone: "Europe/Berlin"}},
			at(berlin, 2026, 3, 29, 0, 0),
			false, at(berlin, 2026, 3, 30, 2, 30), at(berlin, 2026, 3, 30, 3, 30)},
		{"a window over the change to summer time lasts its elapsed duration", []Window{{Schedule: "0 1 * * *", Duration: 4 * time.Hour, TimeZone: "Europe/Berlin"}},
			at(berlin, 2026, 3, 29, 0, 30),
			false, at(berlin, 2026, 3, 29, 1, 0), at(berlin, 2026, 3, 29, 6, 0)},
		{"a window over the change to winter time lasts its elapsed duration", []Window{{Schedule: "0 1 * * *", Duration: 4 * time.Hour, TimeZone: "Europe/Berlin"}},
			at(berlin, 2026, 10, 25, 0, 30),
			false, at(berlin, 2026, 10, 25, 1, 0), at(berlin, 2026, 10, 25, 4, 0)},
		// Europe/Berlin repeats 02:00–03:00 on 25 October 2026 and cron
		// activates at both 02:30s: the two occurrences make one period.
		{"a start in the hour winter time repeats", []Window{{Schedule: "30 2 * * *", Duration: time.Hour, TimeZone: "Europe/Berlin"}},
			at(berlin, 2026, 10, 25, 0, 0),
			false, time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), time.Date(2026, 10, 25, 2, 30, 0, 0, time.UTC)},
		{"a zone half an hour off UTC", []Window{{Schedule: "30 1 * * *", Duration: 2 * time.Hour, TimeZone: "Asia/Kolkata"}},
			time.Date(2026, 6, 10, 19, 0, 0, 0, time.UTC),
			false, at(kolkata, 2026, 6, 11, 1, 30), time.Date(2026, 6, 10, 22, 0, 0, 0, time.UTC)},
		{"inside a window in a zone half an hour off UTC", []Window{{Schedule: "30 1 * * *", Duration: 2 * time.Hour, TimeZone: "Asia/Kolkata"}},
			time.Date(2026, 6, 10, 21, 59, 0, 0, time.UTC),
			true, time.Date(2026, 6, 10, 20, 0, 0, 0, time.UTC), time.Date(2026, 6, 10, 22, 0, 0, 0, time.UTC)},
		// Australia/Lord_Howe moves its clocks by half an hour, from 02:00
		// to 02:30 on 4 October 2026.
		{"a zone whose summer time is half an hour", []Window{{Schedule: "0 1 * * *", Duration: 2 * time.Hour, TimeZone: "Australia/Lord_Howe"}},
			at(lordHowe, 2026, 10, 4, 0, 0),
			false, at(lordHowe, 2026, 10, 4, 1, 0), at(lordHowe, 2026, 10, 4, 3, 30)},
		{"a weekly window across the week and month boundary", []Window{{Schedule: "0 20 * * 6", Duration: 36 * time.Hour}},
			time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC),
			false, time.Date(2026, 10, 31, 20, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)},
		{"inside a weekly window on the next week's Monday", []Window{{Schedule: "0 20 * * 6", Duration: 36 * time.Hour}},
			time.Date(2026, 11, 2, 7, 59, 0, 0, time.UTC),
			true, time.Date(2026, 10, 31, 20, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)},
		{"overlapping windows make one period", []Window{
			{Schedule: "0 22 * * *", Duration: 4 * time.Hour, TimeZone: "Europe/Berlin"},
			{Schedule: "0 1 * * *", Duration: 3 * time.Hour, TimeZone: "Europe/Berlin"},
		}, at(berlin, 2026, 6, 10, 23, 0),
			true, at(berlin, 2026, 6, 10, 22, 0), at(berlin, 2026, 6, 11, 4, 0)},
		{"the earlier of overlapping windows opens the period", []Window{
			{Schedule: "0 1 * * *", Duration: 3 * time.Hour, TimeZone: "Europe/Berlin"},
			{Schedule: "0 22 * * *", Duration: 4 * time.Hour, TimeZone: "Europe/Berlin"},
		}, at(berlin, 2026, 6, 11, 1, 30),
			true, at(berlin, 2026, 6, 10, 22, 0), at(berlin, 2026, 6, 11, 4, 0)},
		{"adjoining windows in different zones make one period", []Window{
			{Schedule: "0 22 * * *", Duration: 2 * time.Hour},
			{Schedule: "0 20 * * *", Duration: 2 * time.Hour, TimeZone: "America/New_York"},
		}, time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC),
			false, time.Date(2026, 6, 10, 22, 0, 0, 0, time.UTC), at(newYork, 2026, 6, 10, 22, 0)},
		{"a window that opens again before it closes never closes", []Window{{Schedule: "0 * * * *", Duration: 90 * time.Minute}},
			time.Date(2026, 6, 10, 12, 30, 0, 0, time.UTC),
			true, time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC), time.Date(2026, 6, 18, 12, 0, 0, 0, time.UTC)},
		{"no windows", nil, at(berlin, 2026, 6, 10, 12, 0),
			true, at(berlin, 2026, 6, 10, 12, 0), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.windows)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Open(tt.at); got != tt.open {
				t.Errorf("Open(%v) = %v; want %v", tt.at, got, tt.open)
			}
			opens, closes := s.Next(tt.at)
			if !opens.Equal(tt.opens) || !closes.Equal(tt.closes) {
				t.Errorf("Next(%v) = %v, %v; want %v, %v", tt.at, opens, closes, tt.opens, tt.closes)
			}
			if got, want := s.Always(), len(tt.windows) == 0; got != want {
				t.Errorf("Always() = %v; want %v", got, want)
			}
		})
	}
}

func TestScheduleIsOpenExactlyBetweenWhatNextReports(t *testing.T) {
	s, err := Parse([]Window{
		{Schedule: "0 22 * * 1-5", Duration: 4 * time.Hour, TimeZone: "Europe/Berlin"},
		{Schedule: "30 2 * * *", Duration: 90 * time.Minute, TimeZone: "Asia/Kolkata"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Across the change to winter time, minute by minute.
	start := time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)
	for at := start; at.Before(start.AddDate(0, 0, 10)); at = at.Add(time.Minute) {
		opens, closes := s.Next(at)
		open := !opens.After(at)
		if s.Open(at) != open {
			t.Fatalf("at %v: Open = %v but Next = %v, %v", at, s.Open(at), opens, closes)
		}
		if !closes.After(at) || !s.Open(opens) || s.Open(closes) || !s.Open(closes.Add(-time.Second)) {
			t.Fatalf("at %v: Next = %v, %v is not a period the schedule is open in", at, opens, closes)
		}
	}
}

func TestParseRefusesWhatIsNotAWindow(t *testing.T) {
	tests := []struct {
		name   string
		window Window
		field  string
		want   string
	}{
		{"seconds", Window{Schedule: "0 0 22 * * *", Duration: time.Hour}, "schedule",
			`schedule "0 0 22 * * *": want five fields (minute hour day-of-month month day-of-week), such as "0 22 * * *"`},
		{"a descriptor", Window{Schedule: "@daily", Duration: time.Hour}, "schedule", `schedule "@daily": want five fields`},
		{"an interval", Window{Schedule: "@every 1h", Duration: time.Hour}, "schedule", `schedule "@every 1h": want five fields`},
		{"a zone in the schedule", Window{Schedule: "CRON_TZ=Europe/Berlin 0 22 * * *", Duration: time.Hour}, "schedule",
			`schedule "CRON_TZ=Europe/Berlin 0 22 * * *" names a time zone: give it in timeZone`},
		{"an hour out of range", Window{Schedule: "0 24 * * *", Duration: time.Hour}, "schedule", `schedule "0 24 * * *": end of range (24) above maximum (23)`},
		{"an empty schedule", Window{Duration: time.Hour}, "schedule", `schedule "": want five fields`},
		{"a date that never comes", Window{Schedule: "0 0 30 2 *", Duration: time.Hour}, "schedule", `schedule "0 0 30 2 *" never activates`},
		{"no duration", Window{Schedule: "0 22 * * *"}, "duration", "duration 0s must be > 0 and less than 7 days (168h)"},
		{"a negative duration", Window{Schedule: "0 22 * * *", Duration: -time.Hour}, "duration", "duration -1h0m0s must be > 0"},
		{"a week", Window{Schedule: "0 22 * * *", Duration: 7 * 24 * time.Hour}, "duration", "duration 168h0m0s must be > 0 and less than 7 days"},
		{"an unknown zone", Window{Schedule: "0 22 * * *", Duration: time.Hour, TimeZone: "Europe/Berlín"}, "timeZone",
			`unknown time zone "Europe/Berlín": want an IANA zone such as Europe/Berlin`},
		{"the machine's zone", Window{Schedule: "0 22 * * *", Duration: time.Hour, TimeZone: "Local"}, "timeZone",
			`time zone "Local" depends on the machine`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]Window{{Schedule: "0 1 * * *", Duration: time.Hour}, tt.window})
			var we *Error
			if !errors.As(err, &we) {
				t.Fatalf("Parse error = %v; want an *Error", err)
			}
			if we.Index != 1 || we.Field != tt.field || !strings.HasPrefix(we.Err.Error(), tt.want) {
				t.Errorf("Parse error = index %d field %s: %v; want index 1 field %s: %s…", we.Index, we.Field, we.Err, tt.field, tt.want)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]Window{{Schedule: "0 22 * *", Duration: 0, TimeZone: "Mars/Olympus"}})
	want := "windows[0].schedule: schedule \"0 22 * *\": want five fields (minute hour day-of-month month day-of-week), such as \"0 22 * * *\"\n" +
		"windows[0].duration: duration 0s must be > 0 and less than 7 days (168h)\n" +
		"windows[0].timeZone: unknown time zone \"Mars/Olympus\": want an IANA zone such as Europe/Berlin"
	if err == nil || err.Error() != want {
		t.Errorf("Parse error =\n%v\nwant\n%s", err, want)
	}
}
