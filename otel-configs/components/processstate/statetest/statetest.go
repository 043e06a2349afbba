// Package statetest builds test data for processors built on processstate:
// resources shaped like the hostmetrics receiver's process scraper, and
// readers for what a processor left of them.
package statetest // import "phoenix-harness.dev/otelcol/processstate/statetest"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// BaseTime is the time of the first call in tests.
var BaseTime = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// Proc describes one process resource.
type Proc struct {
	PID   int64
	Name  string
	Host  string    // empty: no host attribute
	CPU   float64   // cumulative CPU seconds (split over user/system/wait)
	Mem   int64     // resident memory bytes
	Start time.Time // zero: no start timestamp
	NoCPU bool      // omit the CPU metric
	CPUs  int64     // host.cpu.count resource attribute when > 0
}

// AddProcess appends p as a resource scraped at ts.
func AddProcess(md pmetric.Metrics, ts time.Time, p Proc) {
	rm := md.ResourceMetrics().AppendEmpty()
	attrs := rm.Resource().Attributes()
	attrs.PutInt("process.pid", p.PID)
	attrs.PutStr("process.executable.name", p.Name)
	attrs.PutStr("process.command", "/usr/bin/"+p.Name)
	attrs.PutStr("process.owner", "root")
	if p.Host != "" {
		attrs.PutStr("host.name", p.Host)
	}
	if p.CPUs > 0 {
		attrs.PutInt("host.cpu.count", p.CPUs)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/processscraper")
	now := pcommon.NewTimestampFromTime(ts)
	var start pcommon.Timestamp
	if !p.Start.IsZero() {
		start = pcommon.NewTimestampFromTime(p.Start)
	}

	if !p.NoCPU {
		sum := cumulativeSum(sm, "process.cpu.time", "s", true)
		for state, share := range map[string]float64{"user": 0.75, "system": 0.25, "wait": 0} {
			dp := sum.DataPoints().AppendEmpty()
			dp.Attributes().PutStr("state", state)
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(now)
			dp.SetDoubleValue(p.CPU * share)
		}
	}
	for _, name := range []string{"process.memory.usage", "process.memory.virtual"} {
		dp := cumulativeSum(sm, name, "By", false).DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		if name == "process.memory.usage" {
			dp.SetIntValue(p.Mem)
		} else {
			dp.SetIntValue(p.Mem * 4)
		}
	}
	sum := cumulativeSum(sm, "process.disk.io", "By", true)
	for _, dir := range []string{"read", "write"} {
		dp := sum.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("direction", dir)
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.SetIntValue(1024)
	}
}

func cumulativeSum(sm pmetric.ScopeMetrics, name, unit string, monotonic bool) pmetric.Sum {
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(monotonic)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return sum
}

// AddNonProcess appends a host-level resource (no pid); host "" omits host.name.
func AddNonProcess(md pmetric.Metrics, ts time.Time, host string) {
	rm := md.ResourceMetrics().AppendEmpty()
	if host != "" {
		rm.Resource().Attributes().PutStr("host.name", host)
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("system.cpu.load_average.1m")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetDoubleValue(0.42)
}

// Build returns one call holding procs scraped at ts.
func Build(ts time.Time, procs ...Proc) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, p := range procs {
		AddProcess(md, ts, p)
	}
	return md
}

// PIDs lists the process.pid of the remaining process resources, in order.
func PIDs(md pmetric.Metrics) []int64 {
	out := []int64{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		if v, ok := rms.At(i).Resource().Attributes().Get("process.pid"); ok && v.Type() == pcommon.ValueTypeInt {
			out = append(out, v.Int())
		}
	}
	return out
}

// HostPIDs lists the remaining pids per host.name.
func HostPIDs(md pmetric.Metrics) map[string][]int64 {
	out := map[string][]int64{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		attrs := rms.At(i).Resource().Attributes()
		pid, ok := attrs.Get("process.pid")
		if !ok {
			continue
		}
		host := ""
		if h, found := attrs.Get("host.name"); found {
			host = h.Str()
		}
		out[host] = append(out[host], pid.Int())
	}
	return out
}

// Clock is a settable wall clock for Processor.SetClock.
type Clock struct{ T time.Time }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.T }
