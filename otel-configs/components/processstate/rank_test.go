package processstate

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSortBusiest(t *testing.T) {
	procs := []*Process{
		{Index: 0, PID: 9, CPURate: 1, Memory: 100},
		{Index: 1, PID: 5, CPURate: 1, Memory: 100},
		{Index: 2, PID: 7, CPURate: 1, Memory: 200},
		{Index: 3, PID: 3, CPURate: 1, Memory: 50},
		{Index: 4, PID: 8, CPURate: 2, Memory: 10},
		{Index: 5, PID: 5, CPURate: 1, Memory: 100}, // same pid on another host
		{Index: 6, PID: 1, CPURate: 0.5, Memory: 900},
	}
	order := func(byMemory bool) []int {
		shuffled := append([]*Process(nil), procs...)
		rand.New(rand.NewSource(1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		SortBusiest(shuffled, byMemory)
		out := make([]int, len(shuffled))
		for i, p := range shuffled {
			out[i] = p.Index
		}
		return out
	}
	// CPU first; equal CPU: more memory, then lower pid, then input order.
	assert.Equal(t, []int{4, 2, 1, 5, 0, 3, 6}, order(false))
	// Memory first; equal memory: more CPU, then lower pid, then input order.
	assert.Equal(t, []int{6, 2, 1, 5, 0, 3, 4}, order(true))
}
