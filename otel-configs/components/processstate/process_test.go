package processstate

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"phoenix-harness.dev/otelcol/processstate/statetest"
)

var baseTime = statetest.BaseTime

func testExtractor(t *testing.T, mutate func(*Config)) extractor {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := newExtractor(&cfg)
	require.NoError(t, err)
	return e
}

func TestNewExtractorRejectsBadPattern(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CriticalPattern = "[unclosed"
	_, err := newExtractor(&cfg)
	require.ErrorContains(t, err, "invalid critical_pattern")
}

func TestCollectRecognisesPIDs(t *testing.T) {
	md := pmetric.NewMetrics()
	for _, set := range []func(pcommon.Map){
		func(m pcommon.Map) { m.PutInt("process.pid", 11) },
		func(m pcommon.Map) { m.PutDouble("process.pid", 12.0) },
		func(m pcommon.Map) { m.PutStr("process.pid", "13") },
		func(m pcommon.Map) { m.PutStr("process.pid", "x13") }, // not a number: passes through
		func(m pcommon.Map) { m.PutBool("process.pid", true) }, // wrong type: passes through
		func(m pcommon.Map) { m.PutInt("pid", 15) },            // other attribute: passes through
	} {
		set(md.ResourceMetrics().AppendEmpty().Resource().Attributes())
	}
	e := testExtractor(t, nil)
	hosts, n := e.collect(md.ResourceMetrics())
	require.Equal(t, 3, n)
	require.Len(t, hosts, 1)
	var got [][2]int64
	for _, p := range hosts[0].Procs {
		got = append(got, [2]int64{int64(p.Index), p.PID})
	}
	assert.Equal(t, [][2]int64{{0, 11}, {1, 12}, {2, 13}}, got)
}

func TestCollectGroupsByHostInFirstSeenOrder(t *testing.T) {
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "a", Host: "h2"},
		statetest.Proc{PID: 2, Name: "b", Host: "h1"},
		statetest.Proc{PID: 3, Name: "c"},
		statetest.Proc{PID: 4, Name: "d", Host: "h2"},
	)
	names := func(hosts []*Host) map[string][]int64 {
		out := map[string][]int64{}
		for _, h := range hosts {
			for _, p := range h.Procs {
				out[h.Name] = append(out[h.Name], p.PID)
			}
		}
		return out
	}

	e := testExtractor(t, nil)
	hosts, n := e.collect(md.ResourceMetrics())
	assert.Equal(t, 4, n)
	require.Len(t, hosts, 3)
	assert.Equal(t, []string{"h2", "h1", ""}, []string{hosts[0].Name, hosts[1].Name, hosts[2].Name})
	assert.Equal(t, map[string][]int64{"h2": {1, 4}, "h1": {2}, "": {3}}, names(hosts))

	flat := testExtractor(t, func(c *Config) { c.HostAttribute = "" })
	hosts, _ = flat.collect(md.ResourceMetrics())
	assert.Equal(t, map[string][]int64{"": {1, 2, 3, 4}}, names(hosts))
}

func TestCollectCPUCount(t *testing.T) {
	md := pmetric.NewMetrics()
	// A non-process resource carries the count for host "a".
	statetest.AddNonProcess(md, baseTime, "a")
	md.ResourceMetrics().At(0).Resource().Attributes().PutInt(CPUCountAttribute, 16)
	statetest.AddProcess(md, baseTime, statetest.Proc{PID: 1, Name: "p", Host: "a", CPUs: 4}) // first count wins
	statetest.AddProcess(md, baseTime, statetest.Proc{PID: 2, Name: "p", Host: "b"})
	statetest.AddProcess(md, baseTime, statetest.Proc{PID: 3, Name: "p", Host: "c"})
	md.ResourceMetrics().At(3).Resource().Attributes().PutStr(CPUCountAttribute, "8") // not an int
	statetest.AddProcess(md, baseTime, statetest.Proc{PID: 4, Name: "p", Host: "d"})
	md.ResourceMetrics().At(4).Resource().Attributes().PutInt(CPUCountAttribute, 0) // not positive
	statetest.AddProcess(md, baseTime, statetest.Proc{PID: 5, Name: "p", Host: "d", CPUs: 2})

	e := testExtractor(t, nil)
	hosts, _ := e.collect(md.ResourceMetrics())
	got := map[string]int64{}
	for _, h := range hosts {
		got[h.Name] = h.CPUCount
	}
	assert.Equal(t, map[string]int64{"a": 16, "b": 0, "c": 0, "d": 2}, got)
}

func TestCollectCritical(t *testing.T) {
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "postgres"},
		statetest.Proc{PID: 2, Name: "postgres-exporter"},
		statetest.Proc{PID: 3, Name: "nginx"},
	)
	md.ResourceMetrics().At(2).Resource().Attributes().Remove("process.executable.name")
	critical := func(e extractor) []bool {
		hosts, _ := e.collect(md.ResourceMetrics())
		var out []bool
		for _, p := range hosts[0].Procs {
			out = append(out, p.Critical)
		}
		return out
	}
	assert.Equal(t, []bool{true, false, false}, critical(testExtractor(t, func(c *Config) { c.CriticalPattern = "postgres|nginx" })))
	assert.Equal(t, []bool{true, true, false}, critical(testExtractor(t, func(c *Config) { c.CriticalPattern = "postgres.*|nginx" })))
	assert.Equal(t, []bool{false, false, false}, critical(testExtractor(t, nil)))
	assert.Equal(t, []bool{false, true, false}, critical(testExtractor(t, func(c *Config) {
		c.CriticalPattern = "/usr/bin/postgres-exporter"
		c.NameAttribute = "process.command"
	})))
}

func TestCollectMetricValues(t *testing.T) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutInt("process.pid", 7)
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	ts := func(s int) pcommon.Timestamp {
		return pcommon.NewTimestampFromTime(baseTime.Add(time.Duration(s) * time.Second))
	}

	cpu := ms.AppendEmpty()
	cpu.SetName("process.cpu.time")
	sum := cpu.SetEmptySum()
	for _, dp := range []struct {
		v         float64
		start, at int
	}{{3, -50, 0}, {math.NaN(), -40, 2}, {2, -60, 1}, {math.Inf(1), 0, 0}} {
		p := sum.DataPoints().AppendEmpty()
		p.SetDoubleValue(dp.v)
		if dp.start != 0 {
			p.SetStartTimestamp(ts(dp.start))
		}
		p.SetTimestamp(ts(dp.at))
	}
	// A second scope carries more CPU time as an int gauge.
	more := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	more.SetName("process.cpu.time")
	more.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(5)

	mem := ms.AppendEmpty()
	mem.SetName("process.memory.usage")
	mem.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1000)
	mem.Gauge().DataPoints().AppendEmpty().SetDoubleValue(24.5)
	mem.Gauge().DataPoints().AppendEmpty().SetDoubleValue(math.Inf(-1))
	other := ms.AppendEmpty()
	other.SetName("process.memory.virtual")
	other.SetEmptySum().DataPoints().AppendEmpty().SetIntValue(1 << 40)
	hist := ms.AppendEmpty()
	hist.SetName("process.memory.usage")
	hist.SetEmptyHistogram().DataPoints().AppendEmpty().SetSum(1 << 30)

	e := testExtractor(t, nil)
	hosts, _ := e.collect(md.ResourceMetrics())
	p := hosts[0].Procs[0]
	assert.True(t, p.cpu.ok)
	assert.InDelta(t, 10.0, p.cpu.value, 0, "NaN and Inf count as 0; int gauge points add")
	assert.Equal(t, ts(2), p.cpu.ts, "latest timestamp")
	assert.Equal(t, ts(-60), p.cpu.start, "earliest non-zero start")
	assert.InDelta(t, 1024.5, p.Memory, 0, "Inf counts as 0; histograms and other metrics are ignored")

	bare := statetest.Build(baseTime, statetest.Proc{PID: 8, Name: "x", NoCPU: true})
	hosts, _ = e.collect(bare.ResourceMetrics())
	assert.False(t, hosts[0].Procs[0].cpu.ok)
}
