package adaptivefilterprocessor

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"runtime"
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
	cpus  int64     // host.cpu.count resource attribute when > 0
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
	if p.cpus > 0 {
		attrs.PutInt("host.cpu.count", p.cpus)
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

func singleResource(md pmetric.Metrics, i int) pmetric.Metrics {
	out := pmetric.NewMetrics()
	md.ResourceMetrics().At(i).CopyTo(out.ResourceMetrics().AppendEmpty())
	return out
}

const mib = 1 << 20

func newTestProcessor(t *testing.T, mutate func(*Config)) (*adaptiveFilterProcessor, *testClock) {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.NumCPUs = 4
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	p, err := newAdaptiveFilterProcessor(processortest.NewNopSettings(componentType), cfg)
	require.NoError(t, err)
	clock := &testClock{t: baseTime}
	p.now = clock.now
	return p, clock
}

func run(t *testing.T, p *adaptiveFilterProcessor, md pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	out, err := p.processMetrics(context.Background(), md)
	require.NoError(t, err)
	return out
}

// warmUp feeds a call whose output does not matter; everything may be dropped.
func warmUp(t *testing.T, p *adaptiveFilterProcessor, md pmetric.Metrics) {
	t.Helper()
	if _, err := p.processMetrics(context.Background(), md); err != nil {
		require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	}
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, cfg.Validate())
	assert.InDelta(t, 0.05, cfg.CPUThreshold, 0)
	assert.Equal(t, int64(104857600), cfg.MemoryThresholdBytes)
	assert.Equal(t, runtime.NumCPU(), cfg.NumCPUs)
	assert.Equal(t, []LoadTier{{Above: 0.6, Multiplier: 1.5}, {Above: 0.8, Multiplier: 2.0}}, cfg.LoadTiers)
	assert.Equal(t, 50, cfg.MaxSeries)
	assert.Empty(t, cfg.CriticalPattern)
	assert.Equal(t, "process.executable.name", cfg.NameAttribute)
	assert.Equal(t, "host.name", cfg.HostAttribute)
	assert.Equal(t, "process.pid", cfg.PIDAttribute)
	assert.Equal(t, "process.cpu.time", cfg.CPUMetric)
	assert.Equal(t, "process.memory.usage", cfg.MemoryMetric)
	assert.Equal(t, 5, cfg.StaleIntervals)
	assert.Equal(t, 5*time.Minute, cfg.StateTTL)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))

	// Each default config owns its tiers.
	other := createDefaultConfig()
	other.LoadTiers[0].Multiplier = 9
	assert.InDelta(t, 1.5, cfg.LoadTiers[0].Multiplier, 0)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "valid critical pattern", mutate: func(c *Config) { c.CriticalPattern = "otelcol.*|sshd" }},
		{name: "no tiers", mutate: func(c *Config) { c.LoadTiers = nil }},
		{name: "unsorted tiers", mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: 0.9, Multiplier: 3}, {Above: 0, Multiplier: 0.5}} }},
		{name: "zero thresholds", mutate: func(c *Config) { c.CPUThreshold = 0; c.MemoryThresholdBytes = 0 }},
		{name: "cap disabled", mutate: func(c *Config) { c.MaxSeries = 0 }},
		{name: "bad regex", mutate: func(c *Config) { c.CriticalPattern = "([a-z" }, wantErr: "invalid critical_pattern"},
		{name: "negative cpu threshold", mutate: func(c *Config) { c.CPUThreshold = -0.1 }, wantErr: "cpu_threshold"},
		{name: "NaN cpu threshold", mutate: func(c *Config) { c.CPUThreshold = math.NaN() }, wantErr: "cpu_threshold"},
		{name: "negative memory threshold", mutate: func(c *Config) { c.MemoryThresholdBytes = -1 }, wantErr: "memory_threshold_bytes"},
		{name: "zero cpus", mutate: func(c *Config) { c.NumCPUs = 0 }, wantErr: "num_cpus"},
		{name: "negative max series", mutate: func(c *Config) { c.MaxSeries = -1 }, wantErr: "max_series"},
		{name: "tier negative above", mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: -0.1, Multiplier: 2}} }, wantErr: "load_tiers[0]: above"},
		{name: "tier NaN above", mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: math.NaN(), Multiplier: 2}} }, wantErr: "load_tiers[0]: above"},
		{name: "tier zero multiplier", mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: 0.5, Multiplier: 0}} }, wantErr: "load_tiers[0]: multiplier"},
		{name: "tier negative multiplier", mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: 0.5, Multiplier: 1}, {Above: 0.7, Multiplier: -2}} }, wantErr: "load_tiers[1]: multiplier"},
		{name: "tier infinite multiplier", mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: 0.5, Multiplier: math.Inf(1)}} }, wantErr: "load_tiers[0]: multiplier"},
		{name: "tier duplicate above", mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: 0.5, Multiplier: 1.5}, {Above: 0.5, Multiplier: 2}} }, wantErr: "load_tiers[1]: duplicate above"},
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

func TestConfigUnmarshal(t *testing.T) {
	conf := confmap.NewFromStringMap(map[string]any{
		"cpu_threshold":          0.1,
		"memory_threshold_bytes": 52428800,
		"num_cpus":               8,
		"load_tiers": []any{
			map[string]any{"above": 0.5, "multiplier": 3.0},
		},
		"max_series":       20,
		"critical_pattern": "otelcol-.*",
		"host_attribute":   "host.id",
		"state_ttl":        "2m",
	})
	cfg := createDefaultConfig()
	require.NoError(t, conf.Unmarshal(cfg))
	require.NoError(t, cfg.Validate())
	assert.InDelta(t, 0.1, cfg.CPUThreshold, 0)
	assert.Equal(t, int64(52428800), cfg.MemoryThresholdBytes)
	assert.Equal(t, 8, cfg.NumCPUs)
	assert.Equal(t, []LoadTier{{Above: 0.5, Multiplier: 3}}, cfg.LoadTiers, "a configured list replaces the default tiers")
	assert.Equal(t, 20, cfg.MaxSeries)
	assert.Equal(t, "otelcol-.*", cfg.CriticalPattern)
	assert.Equal(t, "host.id", cfg.HostAttribute)
	assert.Equal(t, "process.executable.name", cfg.NameAttribute)
	assert.Equal(t, 2*time.Minute, cfg.StateTTL)

	bad := confmap.NewFromStringMap(map[string]any{"load_tiers": []any{map[string]any{"above": 0.5, "factor": 2}}})
	require.Error(t, bad.Unmarshal(createDefaultConfig()))
}

// ---------------------------------------------------------------------------
// Factory
// ---------------------------------------------------------------------------

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "adaptive_filter", f.Type().String())
	assert.Equal(t, stability, f.MetricsStability())

	cfg := f.CreateDefaultConfig().(*Config)
	cfg.NumCPUs = 4
	sink := new(consumertest.MetricsSink)
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	assert.True(t, p.Capabilities().MutatesData)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))

	started := baseTime.Add(-100 * time.Second)
	md := build(baseTime,
		proc{pid: 1, name: "busy", cpu: 10, start: started},       // 0.1 cores
		proc{pid: 2, name: "idle", cpu: 1, start: started},        // 0.01 cores
		proc{pid: 3, name: "big", mem: 200 * mib, start: started}, // memory
	)
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Len(t, sink.AllMetrics(), 1)
	assert.Equal(t, []int64{1, 3}, pids(sink.AllMetrics()[0]))

	_, err = f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	require.Error(t, err, "logs are not supported")
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
// Thresholds and tiers
// ---------------------------------------------------------------------------

func TestMultiplierSelection(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	for load, want := range map[float64]float64{0: 1, 0.3: 1, 0.6: 1, 0.61: 1.5, 0.8: 1.5, 0.81: 2, 5: 2} {
		assert.InDelta(t, want, p.multiplier(load), 0, "load %v", load)
	}

	// Tiers given out of order; a multiplier below 1 relaxes the thresholds.
	p2, _ := newTestProcessor(t, func(c *Config) {
		c.LoadTiers = []LoadTier{{Above: 0.9, Multiplier: 3}, {Above: 0.1, Multiplier: 0.5}}
	})
	for load, want := range map[float64]float64{0.05: 1, 0.2: 0.5, 0.9: 0.5, 0.95: 3} {
		assert.InDelta(t, want, p2.multiplier(load), 0, "load %v", load)
	}

	p3, _ := newTestProcessor(t, func(c *Config) { c.LoadTiers = nil })
	assert.InDelta(t, 1.0, p3.multiplier(100), 0)
}

func TestTierMultipliersApplied(t *testing.T) {
	// 4 CPUs, base thresholds 0.05 cores / 100 MiB. Rates are first-call
	// estimates (cumulative seconds / 100 s since start).
	started := baseTime.Add(-100 * time.Second)
	scenario := func(hogSeconds float64) pmetric.Metrics {
		return build(baseTime,
			proc{pid: 1, name: "p1", cpu: 6, start: started},                 // 0.06
			proc{pid: 2, name: "p2", cpu: 9, start: started},                 // 0.09
			proc{pid: 3, name: "p3", cpu: 12, start: started},                // 0.12
			proc{pid: 4, name: "hog", cpu: hogSeconds, start: started},       // varies
			proc{pid: 5, name: "fat", mem: 120 * mib, start: started},        // memory only
			proc{pid: 6, name: "edge", cpu: 5, start: started},               // exactly 0.05
			proc{pid: 7, name: "sleepy", cpu: 0.1, mem: mib, start: started}, // 0.001
		)
	}
	tests := []struct {
		name string
		hog  float64
		want []int64
	}{
		// load (0.06+0.09+0.12+0.5+0.05+0.001)/4 = 0.205: multiplier 1.
		{name: "low load", hog: 50, want: []int64{1, 2, 3, 4, 5, 6}},
		// load (0.321+2.5)/4 = 0.705: multiplier 1.5 -> 0.075 cores, 150 MiB.
		{name: "first tier", hog: 250, want: []int64{2, 3, 4}},
		// load (0.321+3.5)/4 = 0.955: multiplier 2 -> 0.1 cores, 200 MiB.
		{name: "second tier", hog: 350, want: []int64{3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newTestProcessor(t, nil)
			assert.Equal(t, tt.want, pids(run(t, p, scenario(tt.hog))))
		})
	}
}

func TestKeepsMoreUnderLowLoadThanHighLoad(t *testing.T) {
	started := baseTime.Add(-1000 * time.Second)
	// Two calls 10 s apart; the second call's rates come from deltas.
	keptAt := func(hogRate float64) int {
		p, clock := newTestProcessor(t, nil)
		mk := func(ts time.Time, elapsed float64) pmetric.Metrics {
			md := pmetric.NewMetrics()
			for pid := int64(1); pid <= 20; pid++ {
				// 0.07 cores each: above the base threshold, below 1.5x.
				addProcess(md, ts, proc{pid: pid, name: "worker", host: "h", cpu: 1 + 0.07*elapsed, start: started})
			}
			addProcess(md, ts, proc{pid: 100, name: "hog", host: "h", cpu: 1 + hogRate*elapsed, start: started})
			return md
		}
		warmUp(t, p, mk(baseTime, 0))
		clock.t = baseTime.Add(10 * time.Second)
		return len(pids(run(t, p, mk(clock.t, 10))))
	}
	low := keptAt(0.2)  // load (1.4+0.2)/4 = 0.4
	high := keptAt(2.0) // load (1.4+2.0)/4 = 0.85
	assert.Equal(t, 21, low)
	assert.Equal(t, 1, high)
	assert.Greater(t, low, high)
}

func TestHostCPUCountOverridesNumCPUs(t *testing.T) {
	started := baseTime.Add(-100 * time.Second)
	mk := func(cpus int64) pmetric.Metrics {
		return build(baseTime,
			proc{pid: 1, name: "small", host: "h", cpu: 6, start: started, cpus: cpus}, // 0.06
			proc{pid: 2, name: "hog", host: "h", cpu: 350, start: started, cpus: cpus}, // 3.5
		)
	}
	// num_cpus 4: load 0.89 -> threshold 0.1 -> "small" dropped.
	p, _ := newTestProcessor(t, nil)
	assert.Equal(t, []int64{2}, pids(run(t, p, mk(0))))
	// host.cpu.count 64: load 0.06 -> base threshold -> both kept.
	p, _ = newTestProcessor(t, nil)
	assert.Equal(t, []int64{1, 2}, pids(run(t, p, mk(64))))

	// The attribute may also sit on a non-process resource of the host, and
	// applies only to that host.
	p, _ = newTestProcessor(t, nil)
	md := pmetric.NewMetrics()
	hostRes := md.ResourceMetrics().AppendEmpty()
	hostRes.Resource().Attributes().PutStr("host.name", "big")
	hostRes.Resource().Attributes().PutInt("host.cpu.count", 64)
	for _, host := range []string{"big", "small"} {
		addProcess(md, baseTime, proc{pid: 1, name: "small", host: host, cpu: 6, start: started})
		addProcess(md, baseTime, proc{pid: 2, name: "hog", host: host, cpu: 350, start: started})
	}
	assert.Equal(t, map[string][]int64{"big": {1, 2}, "small": {2}}, hostPIDs(run(t, p, md)))
	assert.Equal(t, 4, md.ResourceMetrics().Len())
}

func TestHostCPUCountIgnoredUnlessPositiveInt(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	started := baseTime.Add(-100 * time.Second)
	md := build(baseTime,
		proc{pid: 1, name: "small", cpu: 6, start: started},
		proc{pid: 2, name: "hog", cpu: 350, start: started},
	)
	md.ResourceMetrics().At(0).Resource().Attributes().PutStr("host.cpu.count", "64")
	md.ResourceMetrics().At(1).Resource().Attributes().PutInt("host.cpu.count", 0)
	assert.Equal(t, []int64{2}, pids(run(t, p, md)))
}

func TestMemoryThresholdKeeps(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	md := build(baseTime,
		proc{pid: 1, name: "java", mem: 100 * mib, noCPU: true},  // exactly the threshold
		proc{pid: 2, name: "cat", mem: 100*mib - 1, noCPU: true}, // just below
		proc{pid: 3, name: "db", mem: 4096 * mib, noCPU: true},   // far above
	)
	assert.Equal(t, []int64{1, 3}, pids(run(t, p, md)))
}

// ---------------------------------------------------------------------------
// Critical processes and max_series
// ---------------------------------------------------------------------------

func TestCriticalAlwaysKept(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.CriticalPattern = "otelcol.*|sshd" })
	started := baseTime.Add(-100 * time.Second)
	md := build(baseTime,
		proc{pid: 1, name: "sshd", start: started},                 // idle, critical
		proc{pid: 2, name: "otelcol-contrib", noCPU: true},         // no CPU data, critical
		proc{pid: 3, name: "sshd-session", cpu: 1, start: started}, // not a full match
		proc{pid: 4, name: "hog", cpu: 390, start: started},        // high load
		proc{pid: 5, name: "medium", cpu: 9, start: started},       // below 2x threshold
	)
	out := run(t, p, md)
	assert.Equal(t, []int64{1, 2, 4}, pids(out))
	// Critical resources keep all their metrics.
	assert.Equal(t, 4, out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().Len())
}

func TestMaxSeriesCap(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.NumCPUs = 1000 }) // keep load low
	started := baseTime.Add(-100 * time.Second)
	md := pmetric.NewMetrics()
	for pid := int64(1); pid <= 60; pid++ {
		// rate = (pid + 10) / 100: every process is above the threshold.
		addProcess(md, baseTime, proc{pid: pid, name: "w", host: "h", cpu: float64(pid + 10), start: started})
	}
	out := run(t, p, md)
	got := pids(out)
	require.Len(t, got, 50)
	want := []int64{}
	for pid := int64(11); pid <= 60; pid++ {
		want = append(want, pid)
	}
	assert.Equal(t, want, got, "the 50 highest CPU rates, in input order")
}

func TestMaxSeriesWithCritical(t *testing.T) {
	started := baseTime.Add(-100 * time.Second)
	mk := func() pmetric.Metrics {
		md := pmetric.NewMetrics()
		for pid := int64(1); pid <= 5; pid++ {
			addProcess(md, baseTime, proc{pid: pid, name: "sshd", host: "h"})
		}
		for pid := int64(10); pid < 20; pid++ {
			addProcess(md, baseTime, proc{pid: pid, name: "w", host: "h", cpu: float64(pid), start: started})
		}
		return md
	}
	// Critical processes alone exceed the cap: all of them stay, nothing else.
	p, _ := newTestProcessor(t, func(c *Config) {
		c.NumCPUs = 1000
		c.CriticalPattern = "sshd"
		c.MaxSeries = 3
	})
	assert.Equal(t, []int64{1, 2, 3, 4, 5}, pids(run(t, p, mk())))

	// Room left after the critical processes goes to the highest CPU rates.
	p, _ = newTestProcessor(t, func(c *Config) {
		c.NumCPUs = 1000
		c.CriticalPattern = "sshd"
		c.MaxSeries = 8
	})
	assert.Equal(t, []int64{1, 2, 3, 4, 5, 17, 18, 19}, pids(run(t, p, mk())))

	// max_series 0 disables the cap.
	p, _ = newTestProcessor(t, func(c *Config) {
		c.NumCPUs = 1000
		c.CriticalPattern = "sshd"
		c.MaxSeries = 0
	})
	assert.Len(t, pids(run(t, p, mk())), 15)
}

func TestMaxSeriesTieBreak(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) {
		c.NumCPUs = 1000
		c.MaxSeries = 2
	})
	started := baseTime.Add(-100 * time.Second)
	md := build(baseTime,
		proc{pid: 9, name: "a", cpu: 10, mem: 100, start: started},
		proc{pid: 5, name: "b", cpu: 10, mem: 100, start: started},
		proc{pid: 7, name: "c", cpu: 10, mem: 200, start: started},
		proc{pid: 3, name: "d", cpu: 10, mem: 50, start: started},
	)
	assert.Equal(t, []int64{5, 7}, pids(run(t, p, md)))
}

func TestNeverExceedsMaxSeriesExceptCritical(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	started := baseTime.Add(-100 * time.Second)
	for iter := 0; iter < 200; iter++ {
		maxSeries := rng.Intn(12) + 1
		p, clock := newTestProcessor(t, func(c *Config) {
			c.CriticalPattern = "crit-.*"
			c.MaxSeries = maxSeries
			c.NumCPUs = rng.Intn(8) + 1
			c.CPUThreshold = rng.Float64() * 0.2
			c.MemoryThresholdBytes = int64(rng.Intn(200)) * mib
		})
		cumulative := map[string]float64{}
		for call := 0; call < 3; call++ {
			ts := baseTime.Add(time.Duration(call) * 10 * time.Second)
			clock.t = ts
			md := pmetric.NewMetrics()
			critical := map[string]int{}
			total := map[string]int{}
			for i := 0; i < rng.Intn(40); i++ {
				host := fmt.Sprintf("h%d", rng.Intn(3))
				name := "w"
				if rng.Intn(6) == 0 {
					name = "crit-x"
				}
				pid := int64(i + 1)
				key := fmt.Sprintf("%s/%d", host, pid)
				cumulative[key] += rng.Float64() * 20
				addProcess(md, ts, proc{pid: pid, name: name, host: host, cpu: cumulative[key], mem: int64(rng.Intn(300)) * mib, start: started})
				if name != "w" {
					critical[host]++
				}
				total[host]++
			}
			addNonProcess(md, ts, "h0")
			out, err := p.processMetrics(context.Background(), md)
			if total["h0"]+total["h1"]+total["h2"] == 0 {
				require.NoError(t, err)
				continue
			}
			if err != nil {
				require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
			}
			keptCritical := map[string]int{}
			kept := map[string]int{}
			rms := out.ResourceMetrics()
			for i := 0; i < rms.Len(); i++ {
				attrs := rms.At(i).Resource().Attributes()
				if _, ok := attrs.Get("process.pid"); !ok {
					continue
				}
				host, _ := attrs.Get("host.name")
				kept[host.Str()]++
				if name, _ := attrs.Get("process.executable.name"); name.Str() != "w" {
					keptCritical[host.Str()]++
				}
			}
			for host := range total {
				assert.Equal(t, critical[host], keptCritical[host], "all critical kept (iter %d, host %s)", iter, host)
				assert.LessOrEqual(t, kept[host], max(maxSeries, critical[host]), "cap (iter %d, host %s)", iter, host)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Grouping and pass-through
// ---------------------------------------------------------------------------

func TestPerHostGrouping(t *testing.T) {
	p, clock := newTestProcessor(t, nil)
	started := baseTime.Add(-1000 * time.Second)
	mk := func(ts time.Time, elapsed float64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		for _, host := range []string{"busy", "calm", ""} {
			addProcess(md, ts, proc{pid: 1, name: "small", host: host, cpu: 1 + 0.07*elapsed, start: started})
		}
		// Only host "busy" carries a hog (3.5 of 4 CPUs).
		addProcess(md, ts, proc{pid: 2, name: "hog", host: "busy", cpu: 1 + 3.5*elapsed, start: started})
		return md
	}
	warmUp(t, p, mk(baseTime, 0))
	clock.t = baseTime.Add(10 * time.Second)
	out := run(t, p, mk(clock.t, 10))
	assert.Equal(t, map[string][]int64{"busy": {2}, "calm": {1}, "": {1}}, hostPIDs(out))
}

func TestNonProcessResourcesPassThrough(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	started := baseTime.Add(-100 * time.Second)
	md := pmetric.NewMetrics()
	addNonProcess(md, baseTime, "alpha")
	addProcess(md, baseTime, proc{pid: 1, name: "a", host: "alpha", cpu: 1, start: started})
	addProcess(md, baseTime, proc{pid: 2, name: "b", host: "alpha", cpu: 20, start: started})
	addNonProcess(md, baseTime, "")
	odd := md.ResourceMetrics().AppendEmpty()
	odd.Resource().Attributes().PutBool("process.pid", true)
	odd.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("custom")

	expected := pmetric.NewMetrics()
	md.CopyTo(expected)

	out := run(t, p, md)
	require.Equal(t, 4, out.ResourceMetrics().Len())
	assert.Equal(t, []int64{2}, pids(out))
	for outIdx, inIdx := range map[int]int{0: 0, 2: 3, 3: 4} {
		want, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(singleResource(expected, inIdx))
		require.NoError(t, err)
		got, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(singleResource(out, outIdx))
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(got))
	}
}

func TestEverythingDropped(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	md := build(baseTime, proc{pid: 1, name: "a", noCPU: true}, proc{pid: 2, name: "b", noCPU: true})
	out, err := p.processMetrics(context.Background(), md)
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	assert.Equal(t, 0, out.ResourceMetrics().Len())

	empty, err := p.processMetrics(context.Background(), pmetric.NewMetrics())
	require.NoError(t, err)
	assert.Equal(t, 0, empty.ResourceMetrics().Len())
}

// ---------------------------------------------------------------------------
// Rate state
// ---------------------------------------------------------------------------

func TestRatesFromDeltas(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) { c.NumCPUs = 1000 })
	started := baseTime.Add(-1000 * time.Second)
	// Historically busy, idle now; historically idle, busy now.
	first := build(baseTime,
		proc{pid: 1, name: "was-busy", cpu: 900, start: started},
		proc{pid: 2, name: "now-busy", cpu: 10, start: started},
	)
	assert.Equal(t, []int64{1}, pids(run(t, p, first)))
	clock.t = baseTime.Add(10 * time.Second)
	second := build(clock.t,
		proc{pid: 1, name: "was-busy", cpu: 900.1, start: started}, // 0.01
		proc{pid: 2, name: "now-busy", cpu: 15, start: started},    // 0.5
	)
	assert.Equal(t, []int64{2}, pids(run(t, p, second)))
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
	assert.InDelta(t, 0.5, observe(50, ts(0)), 1e-9)
	assert.InDelta(t, 1.0, observe(60, ts(10)), 1e-9)
	assert.InDelta(t, 1.0, observe(60, ts(10)), 1e-9)
	assert.InDelta(t, 0.1, observe(12, ts(20)), 1e-9)
	assert.InDelta(t, 0.8, observe(20, ts(30)), 1e-9)
}

func TestStateExpiry(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) { c.StateTTL = time.Minute })
	started := baseTime.Add(-100 * time.Second)
	warmUp(t, p, build(baseTime,
		proc{pid: 1, name: "short-lived", host: "h", cpu: 1, start: started},
		proc{pid: 2, name: "daemon", host: "h", cpu: 1, start: started},
	))
	warmUp(t, p, build(baseTime, proc{pid: 1, name: "a", host: "gone", cpu: 1, start: started}))
	require.Equal(t, 3, p.tracker.entries())
	for i := 1; i <= 5; i++ {
		clock.t = baseTime.Add(time.Duration(i) * time.Second)
		warmUp(t, p, build(clock.t, proc{pid: 2, name: "daemon", host: "h", cpu: 1, start: started}))
	}
	assert.Equal(t, 2, p.tracker.entries(), "missing for 5 intervals")
	clock.t = baseTime.Add(2 * time.Minute)
	warmUp(t, p, build(clock.t, proc{pid: 2, name: "daemon", host: "h", cpu: 2, start: started}))
	assert.Equal(t, 1, p.tracker.entries(), "silent host expired by TTL")
}

func TestConcurrentConsume(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) {
		c.StateTTL = 0
		c.MaxSeries = 4
		c.NumCPUs = 1000
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
					addProcess(md, ts, proc{pid: pid, name: "p", host: host, cpu: float64(i+1) * float64(pid) * 10, start: baseTime.Add(-time.Minute)})
				}
				out, err := p.processMetrics(context.Background(), md)
				if err != nil {
					t.Error(err)
					return
				}
				if n := out.ResourceMetrics().Len(); n != 4 {
					t.Errorf("expected 4 resources, got %d", n)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	assert.Equal(t, 80, p.tracker.entries())
}

func TestTelemetryCounters(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(componentType)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig()
	p, err := newAdaptiveFilterProcessor(set, cfg)
	require.NoError(t, err)

	md := build(baseTime,
		proc{pid: 1, name: "a", mem: 200 * mib},
		proc{pid: 2, name: "b"},
		proc{pid: 3, name: "c"},
	)
	addNonProcess(md, baseTime, "")
	_, err = p.processMetrics(context.Background(), md)
	require.NoError(t, err)

	for name, want := range map[string]int64{
		"otelcol_processor_adaptive_filter_processes_kept":    1,
		"otelcol_processor_adaptive_filter_processes_dropped": 2,
	} {
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		sum, ok := m.Data.(metricdata.Sum[int64])
		require.True(t, ok, name)
		require.Len(t, sum.DataPoints, 1, name)
		assert.Equal(t, want, sum.DataPoints[0].Value, name)
	}
}
