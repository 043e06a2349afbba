package processstate // import "phoenix-harness.dev/otelcol/processstate"

import "sort"

// SortBusiest sorts procs busiest first: by CPU rate, then memory (with
// byMemory: by memory, then CPU rate), both descending; then lower pid, then
// input order. The order is total, so the result does not depend on the
// order procs came in except through Index.
func SortBusiest(procs []*Process, byMemory bool) {
	sort.Slice(procs, func(i, j int) bool { return busier(procs[i], procs[j], byMemory) })
}

func busier(a, b *Process, byMemory bool) bool {
	first, second := [2]float64{a.CPURate, a.Memory}, [2]float64{b.CPURate, b.Memory}
	if byMemory {
		first[0], first[1] = first[1], first[0]
		second[0], second[1] = second[1], second[0]
	}
	for i := range first {
		if first[i] != second[i] {
			return first[i] > second[i]
		}
	}
	if a.PID != b.PID {
		return a.PID < b.PID
	}
	return a.Index < b.Index
}
