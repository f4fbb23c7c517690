package scrape

import "fmt"

// Limits are the account-wide rate limits of a Zoom plan (zoom-api.md section 4).
type Limits struct {
	HeavyPerSecond  float64 // /report/*
	MediumPerSecond float64 // /users
	HeavyPerDay     int     // shared by every app on the account
}

// PlanLimits returns the limits of a plan name as accepted by --zoom.plan.
func PlanLimits(plan string) (Limits, error) {
	switch plan {
	case "pro", "":
		return Limits{HeavyPerSecond: 10, MediumPerSecond: 20, HeavyPerDay: 30000}, nil
	case "business":
		return Limits{HeavyPerSecond: 40, MediumPerSecond: 60, HeavyPerDay: 60000}, nil
	}
	return Limits{}, fmt.Errorf("unknown Zoom plan %q (want pro or business)", plan)
}
