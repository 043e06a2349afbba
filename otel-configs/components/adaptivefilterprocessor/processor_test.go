package adaptivefilterprocessor

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"

	"phoenix-harness.dev/otelcol/processstate"
	"phoenix-harness.dev/otelcol/processstate/statetest"
)

var baseTime = statetest.BaseTime

const mib = 1 << 20

// newTestProcessor builds a processor with 4 CPUs per host unless mutate
// says otherwise, and a test clock.
func newTestProcessor(t *testing.T, mutate func(*Config)) (*processstate.Processor, *statetest.Clock) {
	return statetest.NewProcessor(t, kind, createDefaultConfig(), func(c *Config) {
		c.NumCPUs = 4
		if mutate != nil {
			mutate(c)
		}
	})
}

var run = statetest.Run

// warmUp feeds a call whose output does not matter; everything may be dropped.
func warmUp(t *testing.T, p *processstate.Processor, md pmetric.Metrics) {
	t.Helper()
	if _, err := p.ProcessMetrics(context.Background(), md); err != nil {
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
	assert.Equal(t, processstate.DefaultConfig(), cfg.Config, "shared keys keep the shared defaults")
	require.NoError(t, componenttest.CheckConfigStruct(cfg))

	// Each default config owns its tiers.
	other := createDefaultConfig()
	other.LoadTiers[0].Multiplier = 9
	assert.InDelta(t, 1.5, cfg.LoadTiers[0].Multiplier, 0)
}

func TestConfigValidate(t *testing.T) {
	statetest.CheckValidate(t, createDefaultConfig, []statetest.ConfigCase[*Config]{
		{Name: "no tiers", Mutate: func(c *Config) { c.LoadTiers = nil }},
		{Name: "unsorted tiers", Mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: 0.9, Multiplier: 3}, {Above: 0, Multiplier: 0.5}} }},
		{Name: "zero thresholds", Mutate: func(c *Config) { c.CPUThreshold = 0; c.MemoryThresholdBytes = 0 }},
		{Name: "cap disabled", Mutate: func(c *Config) { c.MaxSeries = 0 }},
		{Name: "bad regex", Mutate: func(c *Config) { c.CriticalPattern = "([a-z" }, WantErr: "invalid critical_pattern"},
		{Name: "negative cpu threshold", Mutate: func(c *Config) { c.CPUThreshold = -0.1 }, WantErr: "cpu_threshold"},
		{Name: "NaN cpu threshold", Mutate: func(c *Config) { c.CPUThreshold = math.NaN() }, WantErr: "cpu_threshold"},
		{Name: "negative memory threshold", Mutate: func(c *Config) { c.MemoryThresholdBytes = -1 }, WantErr: "memory_threshold_bytes"},
		{Name: "zero cpus", Mutate: func(c *Config) { c.NumCPUs = 0 }, WantErr: "num_cpus"},
		{Name: "negative max series", Mutate: func(c *Config) { c.MaxSeries = -1 }, WantErr: "max_series"},
		{Name: "tier negative above", Mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: -0.1, Multiplier: 2}} }, WantErr: "load_tiers[0]: above"},
		{Name: "tier NaN above", Mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: math.NaN(), Multiplier: 2}} }, WantErr: "load_tiers[0]: above"},
		{Name: "tier zero multiplier", Mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: 0.5, Multiplier: 0}} }, WantErr: "load_tiers[0]: multiplier"},
		{Name: "tier negative multiplier", Mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: 0.5, Multiplier: 1}, {Above: 0.7, Multiplier: -2}} }, WantErr: "load_tiers[1]: multiplier"},
		{Name: "tier infinite multiplier", Mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: 0.5, Multiplier: math.Inf(1)}} }, WantErr: "load_tiers[0]: multiplier"},
		{Name: "tier duplicate above", Mutate: func(c *Config) { c.LoadTiers = []LoadTier{{Above: 0.5, Multiplier: 1.5}, {Above: 0.5, Multiplier: 2}} }, WantErr: "load_tiers[1]: duplicate above"},
		{Name: "empty pid attribute", Mutate: func(c *Config) { c.PIDAttribute = "" }, WantErr: "pid_attribute"},
	})
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
	assert.Equal(t, component.StabilityLevelDevelopment, f.MetricsStability())

	cfg := f.CreateDefaultConfig().(*Config)
	cfg.NumCPUs = 4
	started := baseTime.Add(-100 * time.Second)
	out := statetest.ThroughFactory(t, f, cfg, statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "busy", CPU: 10, Start: started},       // 0.1 cores
		statetest.Proc{PID: 2, Name: "idle", CPU: 1, Start: started},        // 0.01 cores
		statetest.Proc{PID: 3, Name: "big", Mem: 200 * mib, Start: started}, // memory
	))
	require.NotNil(t, out)
	assert.Equal(t, []int64{1, 3}, statetest.PIDs(*out))
	processortest.VerifyShutdown(t, f, cfg)

	_, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	require.Error(t, err, "logs are not supported")
}

// ---------------------------------------------------------------------------
// Thresholds and tiers
// ---------------------------------------------------------------------------

func newTestFilter(t *testing.T, mutate func(*Config)) *adaptiveFilter {
	t.Helper()
	cfg := createDefaultConfig()
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	return newAdaptiveFilter(processortest.NewNopSettings(kind.Type()), cfg)
}

func TestMultiplierSelection(t *testing.T) {
	p := newTestFilter(t, nil)
	for load, want := range map[float64]float64{0: 1, 0.3: 1, 0.6: 1, 0.61: 1.5, 0.8: 1.5, 0.81: 2, 5: 2} {
		assert.InDelta(t, want, p.multiplier(load), 0, "load %v", load)
	}

	// Tiers given out of order; a multiplier below 1 relaxes the thresholds.
	p2 := newTestFilter(t, func(c *Config) {
		c.LoadTiers = []LoadTier{{Above: 0.9, Multiplier: 3}, {Above: 0.1, Multiplier: 0.5}}
	})
	for load, want := range map[float64]float64{0.05: 1, 0.2: 0.5, 0.9: 0.5, 0.95: 3} {
		assert.InDelta(t, want, p2.multiplier(load), 0, "load %v", load)
	}

	p3 := newTestFilter(t, func(c *Config) { c.LoadTiers = nil })
	assert.InDelta(t, 1.0, p3.multiplier(100), 0)
}

func TestTierMultipliersApplied(t *testing.T) {
	// 4 CPUs, base thresholds 0.05 cores / 100 MiB. Rates are first-call
	// estimates (cumulative seconds / 100 s since start).
	started := baseTime.Add(-100 * time.Second)
	scenario := func(hogSeconds float64) pmetric.Metrics {
		return statetest.Build(baseTime,
			statetest.Proc{PID: 1, Name: "p1", CPU: 6, Start: started},                 // 0.06
			statetest.Proc{PID: 2, Name: "p2", CPU: 9, Start: started},                 // 0.09
			statetest.Proc{PID: 3, Name: "p3", CPU: 12, Start: started},                // 0.12
			statetest.Proc{PID: 4, Name: "hog", CPU: hogSeconds, Start: started},       // varies
			statetest.Proc{PID: 5, Name: "fat", Mem: 120 * mib, Start: started},        // memory only
			statetest.Proc{PID: 6, Name: "edge", CPU: 5, Start: started},               // exactly 0.05
			statetest.Proc{PID: 7, Name: "sleepy", CPU: 0.1, Mem: mib, Start: started}, // 0.001
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
			assert.Equal(t, tt.want, statetest.PIDs(run(t, p, scenario(tt.hog))))
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
				statetest.AddProcess(md, ts, statetest.Proc{PID: pid, Name: "worker", Host: "h", CPU: 1 + 0.07*elapsed, Start: started})
			}
			statetest.AddProcess(md, ts, statetest.Proc{PID: 100, Name: "hog", Host: "h", CPU: 1 + hogRate*elapsed, Start: started})
			return md
		}
		warmUp(t, p, mk(baseTime, 0))
		clock.T = baseTime.Add(10 * time.Second)
		return len(statetest.PIDs(run(t, p, mk(clock.T, 10))))
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
		return statetest.Build(baseTime,
			statetest.Proc{PID: 1, Name: "small", Host: "h", CPU: 6, Start: started, CPUs: cpus}, // 0.06
			statetest.Proc{PID: 2, Name: "hog", Host: "h", CPU: 350, Start: started, CPUs: cpus}, // 3.5
		)
	}
	// num_cpus 4: load 0.89 -> threshold 0.1 -> "small" dropped.
	p, _ := newTestProcessor(t, nil)
	assert.Equal(t, []int64{2}, statetest.PIDs(run(t, p, mk(0))))
	// host.cpu.count 64: load 0.06 -> base threshold -> both kept.
	p, _ = newTestProcessor(t, nil)
	assert.Equal(t, []int64{1, 2}, statetest.PIDs(run(t, p, mk(64))))

	// The attribute may also sit on a non-process resource of the host, and
	// applies only to that host.
	p, _ = newTestProcessor(t, nil)
	md := pmetric.NewMetrics()
	hostRes := md.ResourceMetrics().AppendEmpty()
	hostRes.Resource().Attributes().PutStr("host.name", "big")
	hostRes.Resource().Attributes().PutInt("host.cpu.count", 64)
	for _, host := range []string{"big", "small"} {
		statetest.AddProcess(md, baseTime, statetest.Proc{PID: 1, Name: "small", Host: host, CPU: 6, Start: started})
		statetest.AddProcess(md, baseTime, statetest.Proc{PID: 2, Name: "hog", Host: host, CPU: 350, Start: started})
	}
	assert.Equal(t, map[string][]int64{"big": {1, 2}, "small": {2}}, statetest.HostPIDs(run(t, p, md)))
	assert.Equal(t, 4, md.ResourceMetrics().Len())
}

func TestHostCPUCountIgnoredUnlessPositiveInt(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	started := baseTime.Add(-100 * time.Second)
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "small", CPU: 6, Start: started},
		statetest.Proc{PID: 2, Name: "hog", CPU: 350, Start: started},
	)
	md.ResourceMetrics().At(0).Resource().Attributes().PutStr("host.cpu.count", "64")
	md.ResourceMetrics().At(1).Resource().Attributes().PutInt("host.cpu.count", 0)
	assert.Equal(t, []int64{2}, statetest.PIDs(run(t, p, md)))
}

func TestMemoryThresholdKeeps(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "java", Mem: 100 * mib, NoCPU: true},  // exactly the threshold
		statetest.Proc{PID: 2, Name: "cat", Mem: 100*mib - 1, NoCPU: true}, // just below
		statetest.Proc{PID: 3, Name: "db", Mem: 4096 * mib, NoCPU: true},   // far above
	)
	assert.Equal(t, []int64{1, 3}, statetest.PIDs(run(t, p, md)))
}

// ---------------------------------------------------------------------------
// Critical processes and max_series
// ---------------------------------------------------------------------------

func TestCriticalAlwaysKept(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.CriticalPattern = "otelcol.*|sshd" })
	started := baseTime.Add(-100 * time.Second)
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "sshd", Start: started},                 // idle, critical
		statetest.Proc{PID: 2, Name: "otelcol-contrib", NoCPU: true},         // no CPU data, critical
		statetest.Proc{PID: 3, Name: "sshd-session", CPU: 1, Start: started}, // not a full match
		statetest.Proc{PID: 4, Name: "hog", CPU: 390, Start: started},        // high load
		statetest.Proc{PID: 5, Name: "medium", CPU: 9, Start: started},       // below 2x threshold
	)
	out := run(t, p, md)
	assert.Equal(t, []int64{1, 2, 4}, statetest.PIDs(out))
	// Critical resources keep all their metrics.
	assert.Equal(t, 4, out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().Len())
}

func TestMaxSeriesCap(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.NumCPUs = 1000 }) // keep load low
	started := baseTime.Add(-100 * time.Second)
	md := pmetric.NewMetrics()
	for pid := int64(1); pid <= 60; pid++ {
		// rate = (pid + 10) / 100: every process is above the threshold.
		statetest.AddProcess(md, baseTime, statetest.Proc{PID: pid, Name: "w", Host: "h", CPU: float64(pid + 10), Start: started})
	}
	out := run(t, p, md)
	got := statetest.PIDs(out)
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
			statetest.AddProcess(md, baseTime, statetest.Proc{PID: pid, Name: "sshd", Host: "h"})
		}
		for pid := int64(10); pid < 20; pid++ {
			statetest.AddProcess(md, baseTime, statetest.Proc{PID: pid, Name: "w", Host: "h", CPU: float64(pid), Start: started})
		}
		return md
	}
	// Critical processes alone exceed the cap: all of them stay, nothing else.
	p, _ := newTestProcessor(t, func(c *Config) {
		c.NumCPUs = 1000
		c.CriticalPattern = "sshd"
		c.MaxSeries = 3
	})
	assert.Equal(t, []int64{1, 2, 3, 4, 5}, statetest.PIDs(run(t, p, mk())))

	// Room left after the critical processes goes to the highest CPU rates.
	p, _ = newTestProcessor(t, func(c *Config) {
		c.NumCPUs = 1000
		c.CriticalPattern = "sshd"
		c.MaxSeries = 8
	})
	assert.Equal(t, []int64{1, 2, 3, 4, 5, 17, 18, 19}, statetest.PIDs(run(t, p, mk())))

	// max_series 0 disables the cap.
	p, _ = newTestProcessor(t, func(c *Config) {
		c.NumCPUs = 1000
		c.CriticalPattern = "sshd"
		c.MaxSeries = 0
	})
	assert.Len(t, statetest.PIDs(run(t, p, mk())), 15)
}

func TestMaxSeriesTieBreak(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) {
		c.NumCPUs = 1000
		c.MaxSeries = 2
	})
	started := baseTime.Add(-100 * time.Second)
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 4, Name: "a", CPU: 10, Mem: 300, Start: started},
		statetest.Proc{PID: 2, Name: "b", CPU: 10, Mem: 300, Start: started},
		statetest.Proc{PID: 6, Name: "c", CPU: 20, Mem: 10, Start: started},
		statetest.Proc{PID: 1, Name: "d", CPU: 10, Mem: 20, Start: started},
	)
	// The cap keeps the busiest: CPU first (6), then memory, then lower pid (2 before 4).
	assert.Equal(t, []int64{2, 6}, statetest.PIDs(run(t, p, md)))
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
			clock.T = ts
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
				statetest.AddProcess(md, ts, statetest.Proc{PID: pid, Name: name, Host: host, CPU: cumulative[key], Mem: int64(rng.Intn(300)) * mib, Start: started})
				if name != "w" {
					critical[host]++
				}
				total[host]++
			}
			statetest.AddNonProcess(md, ts, "h0")
			out, err := p.ProcessMetrics(context.Background(), md)
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
			statetest.AddProcess(md, ts, statetest.Proc{PID: 1, Name: "small", Host: host, CPU: 1 + 0.07*elapsed, Start: started})
		}
		// Only host "busy" carries a hog (3.5 of 4 CPUs).
		statetest.AddProcess(md, ts, statetest.Proc{PID: 2, Name: "hog", Host: "busy", CPU: 1 + 3.5*elapsed, Start: started})
		return md
	}
	warmUp(t, p, mk(baseTime, 0))
	clock.T = baseTime.Add(10 * time.Second)
	out := run(t, p, mk(clock.T, 10))
	assert.Equal(t, map[string][]int64{"busy": {2}, "calm": {1}, "": {1}}, statetest.HostPIDs(out))
}

// ---------------------------------------------------------------------------
// Rate state
// ---------------------------------------------------------------------------

func TestRatesFromDeltas(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) { c.NumCPUs = 1000 })
	started := baseTime.Add(-1000 * time.Second)
	// Historically busy, idle now; historically idle, busy now.
	first := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "was-busy", CPU: 900, Start: started},
		statetest.Proc{PID: 2, Name: "now-busy", CPU: 10, Start: started},
	)
	assert.Equal(t, []int64{1}, statetest.PIDs(run(t, p, first)))
	clock.T = baseTime.Add(10 * time.Second)
	second := statetest.Build(clock.T,
		statetest.Proc{PID: 1, Name: "was-busy", CPU: 900.1, Start: started}, // 0.01
		statetest.Proc{PID: 2, Name: "now-busy", CPU: 15, Start: started},    // 0.5
	)
	assert.Equal(t, []int64{2}, statetest.PIDs(run(t, p, second)))
}

func TestTelemetryCounters(t *testing.T) {
	set, counter := statetest.Telemetry(t, kind.Type())
	p, err := kind.NewProcessor(set, createDefaultConfig())
	require.NoError(t, err)
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "a", Mem: 200 * mib},
		statetest.Proc{PID: 2, Name: "b"},
		statetest.Proc{PID: 3, Name: "c"},
	)
	statetest.AddNonProcess(md, baseTime, "")
	run(t, p, md)
	assert.Equal(t, int64(1), counter("otelcol_processor_adaptive_filter_processes_kept"))
	assert.Equal(t, int64(2), counter("otelcol_processor_adaptive_filter_processes_dropped"))
}
