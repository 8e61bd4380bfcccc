package maintenance_test

import (
	"fmt"
	"time"

	"github.com/tandem-gitops/tandem/renderer/maintenance"
)

func ExampleSchedule_Next() {
	s, err := maintenance.Parse([]maintenance.Window{
		{Schedule: "0 22 * * *", Duration: 4 * time.Hour, TimeZone: "Europe/Berlin"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, time.March, 28, 12, 0, 0, 0, time.UTC)
	opens, closes := s.Next(now)
	fmt.Println(s.Open(now), opens, closes)
	// The window opens at 22:00 in Berlin's winter time and, four hours
	// later, closes at 03:00 in its summer time.
	// Output: false 2026-03-28 21:00:00 +0000 UTC 2026-03-29 01:00:00 +0000 UTC
}
