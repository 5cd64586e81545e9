package config

import "time"

// SetEvalBudget sets the evaluation budget until the returned function
// restores it.
func SetEvalBudget(d time.Duration) (restore func()) {
	old := evalBudget
	evalBudget = d
	return func() { evalBudget = old }
}
