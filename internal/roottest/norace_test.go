//go:build !race

package roottest_test

// raceEnabled: the tests run under the race detector.
const raceEnabled = false

// raceAllocBudget is unused without the race detector.
const raceAllocBudget = 0
