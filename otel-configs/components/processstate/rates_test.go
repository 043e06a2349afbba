package processstate

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func stamp(s float64) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(baseTime.Add(time.Duration(s * float64(time.Second))))
}

// sample is one process's CPU time: value seconds at ts, process started at start.
func sample(pid int64, value, ts, start float64) *Process {
	return &Process{PID: pid, cpu: cpuSample{ok: true, value: value, ts: stamp(ts), start: stamp(start)}}
}

// call runs one call for one host at wall time now and returns the rates.
func call(tr *rateTracker, now time.Time, host string, procs ...*Process) []float64 {
	tr.update(now, []*Host{{Name: host, Procs: procs}})
	rates := make([]float64, len(procs))
	for i, p := range procs {
		rates[i] = p.CPURate
	}
	return rates
}

func TestEstimateRate(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    cpuSample
		want float64
	}{
		{name: "average since start", s: cpuSample{value: 50, ts: stamp(0), start: stamp(-100)}, want: 0.5},
		{name: "no start time", s: cpuSample{value: 50, ts: stamp(0)}, want: 0},
		{name: "start equals ts", s: cpuSample{value: 50, ts: stamp(0), start: stamp(0)}, want: 0},
		{name: "start after ts", s: cpuSample{value: 50, ts: stamp(0), start: stamp(10)}, want: 0},
		{name: "no cpu time", s: cpuSample{value: 0, ts: stamp(0), start: stamp(-100)}, want: 0},
		{name: "nothing known", s: cpuSample{}, want: 0},
	} {
		assert.InDelta(t, tt.want, estimateRate(tt.s), 1e-12, tt.name)
	}
}

func TestRateSequence(t *testing.T) {
	tr := newRateTracker(5, 0)
	observe := func(v, at float64) float64 { return call(tr, baseTime, "h", sample(1, v, at, -100))[0] }
	assert.InDelta(t, 0.5, observe(50, 0), 1e-9)  // first sight: 50 / 100
	assert.InDelta(t, 1.0, observe(60, 10), 1e-9) // delta 10 / 10
	assert.InDelta(t, 1.0, observe(60, 10), 1e-9) // duplicate: last rate
	assert.InDelta(t, 1.0, observe(55, 5), 1e-9)  // out of order: last rate, state unchanged
	assert.InDelta(t, 0.2, observe(62, 20), 1e-9) // delta against 60 @ 10, not 55 @ 5
	assert.InDelta(t, 0.0, observe(62, 40), 1e-9) // idle
	assert.Equal(t, 1, tr.entries())
}

func TestRateRebasesWhenCounterGoesBackwards(t *testing.T) {
	tr := newRateTracker(5, 0)
	observe := func(v, at float64) float64 { return call(tr, baseTime, "h", sample(1, v, at, -100))[0] }
	observe(50, 0)
	assert.InDelta(t, 0.1, observe(12, 20), 1e-9, "estimate from start: 12 / 120")
	assert.InDelta(t, 0.8, observe(20, 30), 1e-9, "delta from the rebased value")
}

func TestRateUsesDataPointTimestampsNotWallClock(t *testing.T) {
	tr := newRateTracker(5, 0)
	call(tr, baseTime, "h", sample(1, 10, 0, -100))
	// An hour of wall time passes, but the data points are 5 s apart.
	rate := call(tr, baseTime.Add(time.Hour), "h", sample(1, 20, 5, -100))[0]
	assert.InDelta(t, 2.0, rate, 1e-9)
}

func TestRateWithoutCPUMetric(t *testing.T) {
	tr := newRateTracker(5, 0)
	p := &Process{PID: 1, CPURate: 7}
	tr.update(baseTime, []*Host{{Name: "h", Procs: []*Process{p}}})
	assert.InDelta(t, 7.0, p.CPURate, 0, "left alone")
	assert.Equal(t, 0, tr.entries(), "no state without a CPU sample")
	assert.Empty(t, tr.hosts, "a host with nothing to keep is not kept")
}

func TestRateNeverNaNOrInf(t *testing.T) {
	tr := newRateTracker(5, 0)
	call(tr, baseTime, "h", sample(1, 10, 0, -100))
	rate := call(tr, baseTime, "h", sample(1, math.MaxFloat64, 1e-9, -100))[0]
	assert.False(t, math.IsInf(rate, 0) || math.IsNaN(rate), "rate %v", rate)
}

func TestKeys(t *testing.T) {
	tr := newRateTracker(5, 0)
	oldStart, newStart := -1000.0, 5.0
	call(tr, baseTime, "h", sample(42, 500, 0, oldStart))

	// Same pid, new start time: a new process, rated from its own start, not
	// from a (negative) delta against the old one.
	assert.InDelta(t, 0.5, call(tr, baseTime, "h", sample(42, 2.5, 10, newStart))[0], 1e-9)
	assert.Equal(t, 2, tr.entries())

	// Same pid and start on another host: another process with its own state.
	assert.InDelta(t, 1.0, call(tr, baseTime, "other", sample(42, 1010, 10, oldStart))[0], 1e-9, "first sight: 1010 / 1010")
	assert.Equal(t, 3, tr.entries())
	// The first host's process is unaffected by it.
	assert.InDelta(t, 1.0, call(tr, baseTime, "h", sample(42, 520, 20, oldStart))[0], 1e-9, "delta 20 / 20")
}

func TestExpiryAfterMissedCallsOfTheHost(t *testing.T) {
	tr := newRateTracker(5, 0)
	call(tr, baseTime, "h", sample(1, 1, 0, -100), sample(2, 1, 0, -100))
	require.Equal(t, 2, tr.entries())
	for i := 1; i <= 4; i++ {
		call(tr, baseTime, "h", sample(2, 1, float64(i), -100))
		require.Equal(t, 2, tr.entries(), "kept while missing for %d calls", i)
	}
	call(tr, baseTime, "h", sample(2, 1, 5, -100))
	assert.Equal(t, 1, tr.entries(), "forgotten after 5 calls without it")

	// Calls for other hosts do not age this host's state.
	for i := 0; i < 20; i++ {
		call(tr, baseTime, "other", sample(9, 1, float64(i), -100))
	}
	assert.Equal(t, 2, tr.entries())

	// A forgotten process seen again is a first sighting (estimate, not delta).
	assert.InDelta(t, 10.0/110, call(tr, baseTime, "h", sample(1, 10, 10, -100))[0], 1e-9)
}

func TestExpiryByTTL(t *testing.T) {
	tr := newRateTracker(100, time.Minute)
	call(tr, baseTime, "gone", sample(1, 1, 0, -100))
	call(tr, baseTime, "stays", sample(1, 1, 0, -100), sample(2, 1, 0, -100))
	require.Equal(t, 3, tr.entries())

	// One minute is not more than the TTL.
	call(tr, baseTime.Add(time.Minute), "stays", sample(1, 2, 60, -100))
	assert.Equal(t, 3, tr.entries())

	// Later: the silent host is forgotten, and so is the entry of the live
	// host that was not updated within the TTL.
	call(tr, baseTime.Add(2*time.Minute), "stays", sample(1, 3, 120, -100))
	assert.Equal(t, 1, tr.entries())
	assert.NotContains(t, tr.hosts, "gone")
}

func TestExpiryByTTLDisabled(t *testing.T) {
	tr := newRateTracker(100, 0)
	call(tr, baseTime, "quiet", sample(1, 1, 0, -100))
	call(tr, baseTime, "busy", sample(1, 1, 0, -100), sample(2, 1, 0, -100))
	call(tr, baseTime.Add(24*time.Hour), "busy", sample(1, 2, 10, -100))
	assert.Equal(t, 3, tr.entries(), "neither the silent host nor the absent process expire by time")
}
