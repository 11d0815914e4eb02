//go:build race

package roottest_test

// raceEnabled: the tests run under the race detector.
const raceEnabled = true

// raceAllocBudget is TestChallengeCycleHTTP_AllocationBudget's budget
// under the race detector: 448 measured (377 without it), with room for
// the pools it empties at random.
const raceAllocBudget = 480
