package topkprocessor

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ---------------------------------------------------------------------------
// Test data helpers: resources shaped like the hostmetrics process scraper.
// ---------------------------------------------------------------------------

var baseTime = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

type proc struct {
	pid   int64
	name  string
	host  string    // empty: no host attribute
	cpu   float64   // cumulative CPU seconds (split over user/system/wait)
	mem   int64     // resident memory bytes
	start time.Time // zero: no start timestamp
	noCPU bool      // omit the CPU metric
}

func addProcess(md pmetric.Metrics, ts time.Time, p proc) {
	rm := md.ResourceMetrics().AppendEmpty()
	attrs := rm.Resource().Attributes()
	attrs.PutInt("process.pid", p.pid)
	attrs.PutStr("process.executable.name", p.name)
	attrs.PutStr("process.command", "/usr/bin/"+p.name)
	attrs.PutStr("process.owner", "root")
	if p.host != "" {
		attrs.PutStr("host.name", p.host)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/processscraper")
	now := pcommon.NewTimestampFromTime(ts)
	var start pcommon.Timestamp
	if !p.start.IsZero() {
		start = pcommon.NewTimestampFromTime(p.start)
	}

	if !p.noCPU {
		m := sm.Metrics().AppendEmpty()
		m.SetName("process.cpu.time")
		m.SetUnit("s")
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for state, share := range map[string]float64{"user": 0.75, "system": 0.25, "wait": 0} {
			dp := sum.DataPoints().AppendEmpty()
			dp.Attributes().PutStr("state", state)
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(now)
			dp.SetDoubleValue(p.cpu * share)
		}
	}
	for _, name := range []string{"process.memory.usage", "process.memory.virtual"} {
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		m.SetUnit("By")
		sum := m.SetEmptySum()
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		if name == "process.memory.usage" {
			dp.SetIntValue(p.mem)
		} else {
			dp.SetIntValue(p.mem * 4)
		}
	}
	m := sm.Metrics().AppendEmpty()
	m.SetName("process.disk.io")
	m.SetUnit("By")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, dir := range []string{"read", "write"} {
		dp := sum.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("direction", dir)
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.SetIntValue(1024)
	}
}

func addNonProcess(md pmetric.Metrics, ts time.Time, host string) {
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

func build(ts time.Time, procs ...proc) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, p := range procs {
		addProcess(md, ts, p)
	}
	return md
}

// pids lists the process.pid of the remaining process resources, in order.
func pids(md pmetric.Metrics) []int64 {
	out := []int64{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		if v, ok := rms.At(i).Resource().Attributes().Get("process.pid"); ok && v.Type() == pcommon.ValueTypeInt {
			out = append(out, v.Int())
		}
	}
	return out
}

// hostPIDs lists the remaining pids per host.name.
func hostPIDs(md pmetric.Metrics) map[string][]int64 {
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

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func newTestProcessor(t *testing.T, mutate func(*Config)) (*topKProcessor, *testClock) {
	t.Helper()
	cfg := createDefaultConfig()
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	p, err := newTopKProcessor(processortest.NewNopSettings(componentType), cfg)
	require.NoError(t, err)
	clock := &testClock{t: baseTime}
	p.now = clock.now
	return p, clock
}

func run(t *testing.T, p *topKProcessor, md pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	out, err := p.processMetrics(context.Background(), md)
	require.NoError(t, err)
	return out
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, cfg.Validate())
	assert.Equal(t, 10, cfg.K)
	assert.Equal(t, "cpu", cfg.Metric)
	assert.Empty(t, cfg.CriticalPattern)
	assert.Equal(t, "process.executable.name", cfg.NameAttribute)
	assert.Equal(t, "host.name", cfg.HostAttribute)
	assert.Equal(t, "process.pid", cfg.PIDAttribute)
	assert.Equal(t, "process.cpu.time", cfg.CPUMetric)
	assert.Equal(t, "process.memory.usage", cfg.MemoryMetric)
	assert.Equal(t, 5, cfg.StaleIntervals)
	assert.Equal(t, 5*time.Minute, cfg.StateTTL)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "valid critical pattern", mutate: func(c *Config) { c.CriticalPattern = "otelcol.*|sshd" }},
		{name: "k zero is valid", mutate: func(c *Config) { c.K = 0 }},
		{name: "memory metric", mutate: func(c *Config) { c.Metric = "memory" }},
		{name: "empty host attribute disables grouping", mutate: func(c *Config) { c.HostAttribute = "" }},
		{name: "ttl disabled", mutate: func(c *Config) { c.StateTTL = 0 }},
		{name: "bad regex", mutate: func(c *Config) { c.CriticalPattern = "([a-z" }, wantErr: "invalid critical_pattern"},
		{name: "negative k", mutate: func(c *Config) { c.K = -1 }, wantErr: "k must be >= 0"},
		{name: "unknown metric", mutate: func(c *Config) { c.Metric = "disk" }, wantErr: "metric must be"},
		{name: "empty name attribute", mutate: func(c *Config) { c.NameAttribute = "" }, wantErr: "name_attribute"},
		{name: "empty pid attribute", mutate: func(c *Config) { c.PIDAttribute = "" }, wantErr: "pid_attribute"},
		{name: "empty cpu metric", mutate: func(c *Config) { c.CPUMetric = "" }, wantErr: "cpu_metric"},
		{name: "empty memory metric", mutate: func(c *Config) { c.MemoryMetric = "" }, wantErr: "memory_metric"},
		{name: "stale intervals zero", mutate: func(c *Config) { c.StaleIntervals = 0 }, wantErr: "stale_intervals"},
		{name: "negative ttl", mutate: func(c *Config) { c.StateTTL = -time.Second }, wantErr: "state_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			tt.mutate(cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestConfigValidateReportsAllErrors(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.K = -3
	cfg.CriticalPattern = "(("
	err := cfg.Validate()
	require.ErrorContains(t, err, "k must be >= 0")
	require.ErrorContains(t, err, "invalid critical_pattern")
}

func TestConfigUnmarshal(t *testing.T) {
	conf := confmap.NewFromStringMap(map[string]any{
		"k":                5,
		"metric":           "memory",
		"critical_pattern": "otelcol-.*|sshd",
		"name_attribute":   "process.command",
		"host_attribute":   "host.id",
		"cpu_metric":       "my.cpu",
		"memory_metric":    "my.mem",
		"stale_intervals":  3,
		"state_ttl":        "90s",
	})
	cfg := createDefaultConfig()
	require.NoError(t, conf.Unmarshal(cfg))
	require.NoError(t, cfg.Validate())
	assert.Equal(t, 5, cfg.K)
	assert.Equal(t, "memory", cfg.Metric)
	assert.Equal(t, "otelcol-.*|sshd", cfg.CriticalPattern)
	assert.Equal(t, "process.command", cfg.NameAttribute)
	assert.Equal(t, "host.id", cfg.HostAttribute)
	assert.Equal(t, "process.pid", cfg.PIDAttribute)
	assert.Equal(t, "my.cpu", cfg.CPUMetric)
	assert.Equal(t, "my.mem", cfg.MemoryMetric)
	assert.Equal(t, 3, cfg.StaleIntervals)
	assert.Equal(t, 90*time.Second, cfg.StateTTL)

	bad := confmap.NewFromStringMap(map[string]any{"no_such_key": 1})
	require.Error(t, bad.Unmarshal(createDefaultConfig()))
}

// ---------------------------------------------------------------------------
// Factory
// ---------------------------------------------------------------------------

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "topk", f.Type().String())
	assert.Equal(t, stability, f.MetricsStability())

	sink := new(consumertest.MetricsSink)
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), sink)
	require.NoError(t, err)
	assert.True(t, p.Capabilities().MutatesData)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))

	md := pmetric.NewMetrics()
	for i := int64(1); i <= 15; i++ {
		addProcess(md, baseTime, proc{pid: i, name: "worker", host: "h", cpu: float64(i), mem: 1 << 20, start: baseTime.Add(-100 * time.Second)})
	}
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	require.NoError(t, p.Shutdown(context.Background()))

	require.Len(t, sink.AllMetrics(), 1)
	assert.Equal(t, []int64{6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, pids(sink.AllMetrics()[0]))

	_, err = f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), consumertest.NewNop())
	require.Error(t, err, "traces are not supported")
}

func TestFactoryRejectsBadPattern(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.CriticalPattern = "[unclosed"
	_, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	require.Error(t, err)
}

func TestFactoryShutdown(t *testing.T) {
	f := NewFactory()
	processortest.VerifyShutdown(t, f, f.CreateDefaultConfig())
}

// ---------------------------------------------------------------------------
// Selection
// ---------------------------------------------------------------------------

func TestFirstCallEstimatesFromStartTimestamp(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 2 })
	started := baseTime.Add(-100 * time.Second)
	md := build(baseTime,
		proc{pid: 1, name: "a", cpu: 50, start: started},  // 0.5 cores
		proc{pid: 2, name: "b", cpu: 10, start: started},  // 0.1 cores
		proc{pid: 3, name: "c", cpu: 80, start: started},  // 0.8 cores
		proc{pid: 4, name: "d", cpu: 5000},                // no start time: 0
		proc{pid: 5, name: "e", cpu: 20, start: baseTime}, // start == ts: 0
	)
	out := run(t, p, md)
	assert.Equal(t, []int64{1, 3}, pids(out), "input order is preserved")
}

func TestTopKByRateFromDeltas(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) { c.K = 2 })
	started := baseTime.Add(-1000 * time.Second)
	first := build(baseTime,
		proc{pid: 1, name: "was-busy", cpu: 900, start: started},    // avg 0.9
		proc{pid: 2, name: "now-busy", cpu: 10, start: started},     // avg 0.01
		proc{pid: 3, name: "steady", cpu: 100, start: started},      // avg 0.1
		proc{pid: 4, name: "idle-now", cpu: 500, start: started},    // avg 0.5
		proc{pid: 5, name: "tiny", cpu: 1, start: started, mem: 10}, // avg 0.001
	)
	assert.Equal(t, []int64{1, 4}, pids(run(t, p, first)))

	clock.t = baseTime.Add(10 * time.Second)
	second := build(clock.t,
		proc{pid: 1, name: "was-busy", cpu: 900.5, start: started}, // 0.05
		proc{pid: 2, name: "now-busy", cpu: 30, start: started},    // 2.0
		proc{pid: 3, name: "steady", cpu: 105, start: started},     // 0.5
		proc{pid: 4, name: "idle-now", cpu: 500, start: started},   // 0
		proc{pid: 5, name: "tiny", cpu: 1.2, start: started},       // 0.02
	)
	assert.Equal(t, []int64{2, 3}, pids(run(t, p, second)))

	// Rates come from data point timestamps, not from the wall clock.
	clock.t = baseTime.Add(time.Hour)
	third := build(baseTime.Add(20*time.Second),
		proc{pid: 1, name: "was-busy", cpu: 920.5, start: started}, // 2.0
		proc{pid: 2, name: "now-busy", cpu: 30, start: started},    // 0
		proc{pid: 3, name: "steady", cpu: 106, start: started},     // 0.1
		proc{pid: 4, name: "idle-now", cpu: 500, start: started},   // 0
		proc{pid: 5, name: "tiny", cpu: 11.2, start: started},      // 1.0
	)
	assert.Equal(t, []int64{1, 5}, pids(run(t, p, third)))
}

func TestRateOfKnownProcessUsesDeltaNotAverage(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	started := baseTime.Add(-100 * time.Second)
	run(t, p, build(baseTime, proc{pid: 7, name: "x", cpu: 50, start: started}))
	groups, _ := p.extract.collect(build(baseTime.Add(5*time.Second), proc{pid: 7, name: "x", cpu: 60, start: started}).ResourceMetrics())
	p.tracker.update(baseTime, groups)
	assert.InDelta(t, 2.0, groups[0].procs[0].cpuRate, 1e-9)
}

func TestCriticalAlwaysKept(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) {
		c.K = 1
		c.CriticalPattern = "otelcol.*|sshd"
	})
	started := baseTime.Add(-100 * time.Second)
	mk := func(ts time.Time, scale float64) pmetric.Metrics {
		return build(ts,
			proc{pid: 10, name: "sshd", cpu: 0, start: started},
			proc{pid: 11, name: "otelcol-contrib", noCPU: true},
			proc{pid: 12, name: "sshd-session", cpu: 90 * scale, start: started}, // not a full match
			proc{pid: 13, name: "xsshd", cpu: 80 * scale, start: started},        // not a full match
			proc{pid: 14, name: "java", cpu: 70 * scale, start: started},
		)
	}
	out := run(t, p, mk(baseTime, 1))
	assert.Equal(t, []int64{10, 11, 12}, pids(out))

	clock.t = baseTime.Add(10 * time.Second)
	out = run(t, p, mk(clock.t, 1.5))
	assert.Equal(t, []int64{10, 11, 12}, pids(out))

	// Critical resources keep all their metrics.
	rm := out.ResourceMetrics().At(0)
	assert.Equal(t, 4, rm.ScopeMetrics().At(0).Metrics().Len())
}

func TestCriticalWithKZero(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) {
		c.K = 0
		c.CriticalPattern = "sshd"
	})
	md := build(baseTime,
		proc{pid: 1, name: "sshd", host: "a"},
		proc{pid: 2, name: "java", host: "a", cpu: 100, start: baseTime.Add(-time.Second)},
		proc{pid: 3, name: "sshd", host: "b"},
		proc{pid: 4, name: "java", host: "b", cpu: 100, start: baseTime.Add(-time.Second)},
	)
	addNonProcess(md, baseTime, "a")
	out := run(t, p, md)
	assert.Equal(t, map[string][]int64{"a": {1}, "b": {3}}, hostPIDs(out))
	assert.Equal(t, 3, out.ResourceMetrics().Len())
}

func TestKZeroDropsAllNonCritical(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 0 })
	md := build(baseTime,
		proc{pid: 1, name: "a", cpu: 1, start: baseTime.Add(-time.Second)},
		proc{pid: 2, name: "b", cpu: 2, start: baseTime.Add(-time.Second)},
	)
	out, err := p.processMetrics(context.Background(), md)
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	assert.Equal(t, 0, out.ResourceMetrics().Len())

	// Through the pipeline helper nothing reaches the next consumer.
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.K = 0
	sink := new(consumertest.MetricsSink)
	mp, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, mp.ConsumeMetrics(context.Background(), build(baseTime, proc{pid: 1, name: "a"})))
	assert.Empty(t, sink.AllMetrics())
}

func TestKLargerThanProcessCount(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 10 })
	md := build(baseTime, proc{pid: 3, name: "a"}, proc{pid: 1, name: "b"}, proc{pid: 2, name: "c"})
	assert.Equal(t, []int64{3, 1, 2}, pids(run(t, p, md)))
}

func TestPerHostGrouping(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) { c.K = 1 })
	started := baseTime.Add(-100 * time.Second)
	first := build(baseTime,
		proc{pid: 10, name: "x", host: "alpha", cpu: 10, start: started}, // 0.1
		proc{pid: 20, name: "y", host: "alpha", cpu: 20, start: started}, // 0.2
		proc{pid: 10, name: "x", host: "beta", cpu: 30, start: started},  // 0.3 (same pid, other host)
		proc{pid: 20, name: "y", host: "beta", cpu: 5, start: started},   // 0.05
		proc{pid: 30, name: "z", cpu: 1, start: started},                 // no host
		proc{pid: 31, name: "w", cpu: 2, start: started},                 // no host
	)
	assert.Equal(t, map[string][]int64{"alpha": {20}, "beta": {10}, "": {31}}, hostPIDs(run(t, p, first)))

	clock.t = baseTime.Add(10 * time.Second)
	second := build(clock.t,
		proc{pid: 10, name: "x", host: "alpha", cpu: 30, start: started}, // 2.0
		proc{pid: 20, name: "y", host: "alpha", cpu: 21, start: started}, // 0.1
		proc{pid: 10, name: "x", host: "beta", cpu: 30, start: started},  // 0
		proc{pid: 20, name: "y", host: "beta", cpu: 6, start: started},   // 0.1
		proc{pid: 30, name: "z", cpu: 11, start: started},                // 1.0
		proc{pid: 31, name: "w", cpu: 2, start: started},                 // 0
	)
	assert.Equal(t, map[string][]int64{"alpha": {10}, "beta": {20}, "": {30}}, hostPIDs(run(t, p, second)))
}

func TestHostGroupingDisabled(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) {
		c.K = 1
		c.HostAttribute = ""
	})
	started := baseTime.Add(-100 * time.Second)
	md := build(baseTime,
		proc{pid: 1, name: "x", host: "alpha", cpu: 10, start: started},
		proc{pid: 2, name: "y", host: "beta", cpu: 20, start: started},
	)
	assert.Equal(t, []int64{2}, pids(run(t, p, md)))
}

func TestNonProcessResourcesPassThrough(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 1 })
	started := baseTime.Add(-100 * time.Second)
	md := pmetric.NewMetrics()
	addNonProcess(md, baseTime, "alpha")
	addProcess(md, baseTime, proc{pid: 1, name: "a", host: "alpha", cpu: 1, start: started})
	addProcess(md, baseTime, proc{pid: 2, name: "b", host: "alpha", cpu: 2, start: started})
	addNonProcess(md, baseTime, "")
	// A resource whose pid is not numeric is not treated as a process.
	odd := md.ResourceMetrics().AppendEmpty()
	odd.Resource().Attributes().PutStr("process.pid", "not-a-number")
	odd.Resource().Attributes().PutStr("host.name", "alpha")
	odd.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("custom")

	expected := pmetric.NewMetrics()
	md.CopyTo(expected)

	out := run(t, p, md)
	require.Equal(t, 4, out.ResourceMetrics().Len())
	assert.Equal(t, []int64{2}, pids(out))
	// Non-process resources are identical to the input.
	for outIdx, inIdx := range map[int]int{0: 0, 2: 3, 3: 4} {
		want, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(singleResource(expected, inIdx))
		require.NoError(t, err)
		got, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(singleResource(out, outIdx))
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(got))
	}
}

func TestOnlyNonProcessResources(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 0 })
	md := pmetric.NewMetrics()
	addNonProcess(md, baseTime, "alpha")
	addNonProcess(md, baseTime, "beta")
	out := run(t, p, md)
	assert.Equal(t, 2, out.ResourceMetrics().Len())
	assert.Equal(t, 0, p.tracker.entries())
}

func TestEmptyInput(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	out := run(t, p, pmetric.NewMetrics())
	assert.Equal(t, 0, out.ResourceMetrics().Len())
}

func singleResource(md pmetric.Metrics, i int) pmetric.Metrics {
	out := pmetric.NewMetrics()
	md.ResourceMetrics().At(i).CopyTo(out.ResourceMetrics().AppendEmpty())
	return out
}

func TestRankByMemory(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) {
		c.K = 2
		c.Metric = "memory"
	})
	started := baseTime.Add(-100 * time.Second)
	md := build(baseTime,
		proc{pid: 1, name: "a", cpu: 90, mem: 100, start: started},
		proc{pid: 2, name: "b", cpu: 1, mem: 5000, start: started},
		proc{pid: 3, name: "c", cpu: 2, mem: 3000, start: started},
		proc{pid: 4, name: "d", cpu: 50, mem: 3000, start: started}, // beats pid 3 on CPU
	)
	assert.Equal(t, []int64{2, 4}, pids(run(t, p, md)))
}

func TestTieBreaks(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 2 })
	started := baseTime.Add(-100 * time.Second)
	md := build(baseTime,
		proc{pid: 9, name: "a", cpu: 10, mem: 100, start: started},
		proc{pid: 5, name: "b", cpu: 10, mem: 100, start: started},
		proc{pid: 7, name: "c", cpu: 10, mem: 200, start: started},
		proc{pid: 3, name: "d", cpu: 10, mem: 50, start: started},
	)
	// Equal CPU: highest memory (7) first, then lower pid among equals (5 < 9).
	assert.Equal(t, []int64{5, 7}, pids(run(t, p, md)))

	// No CPU metric at all: memory then pid decide.
	p2, _ := newTestProcessor(t, func(c *Config) { c.K = 1 })
	md2 := build(baseTime, proc{pid: 8, name: "a", noCPU: true}, proc{pid: 4, name: "b", noCPU: true})
	assert.Equal(t, []int64{4}, pids(run(t, p2, md2)))
}

func TestIntCPUValuesAndGauge(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 1 })
	md := pmetric.NewMetrics()
	for pid, v := range map[int64]int64{1: 10, 2: 40} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt("process.pid", pid)
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("process.cpu.time")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(baseTime.Add(-10 * time.Second)))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(baseTime))
		dp.SetIntValue(v)
	}
	assert.Equal(t, []int64{2}, pids(run(t, p, md)))
}

// ---------------------------------------------------------------------------
// Rate state
// ---------------------------------------------------------------------------

func TestPIDReuseIsANewProcess(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	oldStart := baseTime.Add(-1000 * time.Second)
	run(t, p, build(baseTime, proc{pid: 42, name: "old", cpu: 500, start: oldStart}))

	// Same pid, new start time: the rate is estimated from the new start,
	// not from a (negative) delta against the old process.
	newStart := baseTime.Add(5 * time.Second)
	groups, _ := p.extract.collect(build(baseTime.Add(10*time.Second), proc{pid: 42, name: "new", cpu: 2.5, start: newStart}).ResourceMetrics())
	p.tracker.update(baseTime, groups)
	assert.InDelta(t, 0.5, groups[0].procs[0].cpuRate, 1e-9)
	assert.Equal(t, 2, p.tracker.entries())
}

func TestCounterResetAndDuplicates(t *testing.T) {
	tr := newRateTracker(5, 0)
	start := pcommon.NewTimestampFromTime(baseTime.Add(-100 * time.Second))
	ts := func(s int) pcommon.Timestamp {
		return pcommon.NewTimestampFromTime(baseTime.Add(time.Duration(s) * time.Second))
	}
	observe := func(v float64, at pcommon.Timestamp) float64 {
		g := &hostGroup{host: "h", procs: []*processInfo{{pid: 1, cpu: cpuSample{ok: true, value: v, ts: at, start: start}}}}
		tr.update(baseTime, []*hostGroup{g})
		return g.procs[0].cpuRate
	}
	assert.InDelta(t, 0.5, observe(50, ts(0)), 1e-9)     // estimate: 50 / 100
	assert.InDelta(t, 1.0, observe(60, ts(10)), 1e-9)    // delta
	assert.InDelta(t, 1.0, observe(60, ts(10)), 1e-9)    // duplicate: last rate
	assert.InDelta(t, 1.0, observe(55, ts(5)), 1e-9)     // out of order: last rate
	assert.InDelta(t, 0.1, observe(12, ts(20)), 1e-9)    // went backwards: estimate 12 / 120
	assert.InDelta(t, 0.8, observe(20, ts(30)), 1e-9)    // delta from the rebased value
	assert.InDelta(t, 0.0, observe(20, ts(40)), 1e-9)    // idle
	assert.InDelta(t, 0.0, estimateRate(cpuSample{}), 0) // nothing known
}

func TestStateExpiresAfterMissedIntervals(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) { c.StateTTL = 0 })
	started := baseTime.Add(-100 * time.Second)
	run(t, p, build(baseTime,
		proc{pid: 1, name: "short-lived", host: "h", cpu: 1, start: started},
		proc{pid: 2, name: "daemon", host: "h", cpu: 1, start: started},
	))
	require.Equal(t, 2, p.tracker.entries())

	for i := 1; i <= 4; i++ {
		clock.t = baseTime.Add(time.Duration(i) * 10 * time.Second)
		run(t, p, build(clock.t, proc{pid: 2, name: "daemon", host: "h", cpu: 1, start: started}))
		require.Equal(t, 2, p.tracker.entries(), "kept while missing for %d intervals", i)
	}
	clock.t = baseTime.Add(50 * time.Second)
	run(t, p, build(clock.t, proc{pid: 2, name: "daemon", host: "h", cpu: 1, start: started}))
	assert.Equal(t, 1, p.tracker.entries(), "expired after 5 missed intervals")

	// Other hosts' calls do not age this host's state.
	run(t, p, build(clock.t, proc{pid: 9, name: "other", host: "other", cpu: 1, start: started}))
	for i := 0; i < 10; i++ {
		run(t, p, build(clock.t, proc{pid: 9, name: "other", host: "other", cpu: 1, start: started}))
	}
	assert.Equal(t, 2, p.tracker.entries())
}

func TestStateExpiresByTTL(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) { c.StateTTL = time.Minute })
	started := baseTime.Add(-100 * time.Second)
	run(t, p, build(baseTime, proc{pid: 1, name: "a", host: "gone", cpu: 1, start: started}))
	run(t, p, build(baseTime, proc{pid: 1, name: "a", host: "stays", cpu: 1, start: started}))
	require.Equal(t, 2, p.tracker.entries())

	clock.t = baseTime.Add(2 * time.Minute)
	run(t, p, build(clock.t, proc{pid: 1, name: "a", host: "stays", cpu: 2, start: started}))
	assert.Equal(t, 1, p.tracker.entries(), "the host that stopped reporting is forgotten")
}

func TestConcurrentConsume(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) {
		c.K = 3
		c.StateTTL = 0
	})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			host := fmt.Sprintf("host-%d", w)
			for i := 0; i < 50; i++ {
				ts := baseTime.Add(time.Duration(i) * time.Second)
				md := pmetric.NewMetrics()
				for pid := int64(1); pid <= 10; pid++ {
					addProcess(md, ts, proc{pid: pid + int64(w)*100, name: "p", host: host, cpu: float64(i) * float64(pid), start: baseTime.Add(-time.Minute)})
				}
				out, err := p.processMetrics(context.Background(), md)
				if err != nil {
					t.Error(err)
					return
				}
				if n := out.ResourceMetrics().Len(); n != 3 {
					t.Errorf("expected 3 resources, got %d", n)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	// Each worker owns one host with 10 processes; none of them stop reporting.
	assert.Equal(t, 80, p.tracker.entries())
}

func TestTelemetryCounters(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(componentType)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig()
	cfg.K = 2
	p, err := newTopKProcessor(set, cfg)
	require.NoError(t, err)

	md := build(baseTime, proc{pid: 1, name: "a"}, proc{pid: 2, name: "b"}, proc{pid: 3, name: "c"}, proc{pid: 4, name: "d"}, proc{pid: 5, name: "e"})
	addNonProcess(md, baseTime, "")
	_, err = p.processMetrics(context.Background(), md)
	require.NoError(t, err)

	for name, want := range map[string]int64{
		"otelcol_processor_topk_processes_kept":    2,
		"otelcol_processor_topk_processes_dropped": 3,
	} {
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		sum, ok := m.Data.(metricdata.Sum[int64])
		require.True(t, ok, name)
		require.Len(t, sum.DataPoints, 1, name)
		assert.Equal(t, want, sum.DataPoints[0].Value, name)
	}
}
