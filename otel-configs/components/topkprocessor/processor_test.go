package topkprocessor

import (
	"context"
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

func newTestProcessor(t *testing.T, mutate func(*Config)) (*processstate.Processor, *statetest.Clock) {
	return statetest.NewProcessor(t, kind, createDefaultConfig(), mutate)
}

var run = statetest.Run

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, cfg.Validate())
	assert.Equal(t, 10, cfg.K)
	assert.Equal(t, "cpu", cfg.Metric)
	assert.Equal(t, processstate.DefaultConfig(), cfg.Config, "shared keys keep the shared defaults")
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
}

func TestConfigValidate(t *testing.T) {
	statetest.CheckValidate(t, createDefaultConfig, []statetest.ConfigCase[*Config]{
		{Name: "k zero is valid", Mutate: func(c *Config) { c.K = 0 }},
		{Name: "memory metric", Mutate: func(c *Config) { c.Metric = "memory" }},
		{Name: "negative k", Mutate: func(c *Config) { c.K = -1 }, WantErr: "k must be >= 0"},
		{Name: "unknown metric", Mutate: func(c *Config) { c.Metric = "disk" }, WantErr: "metric must be"},
		{Name: "empty pid attribute", Mutate: func(c *Config) { c.PIDAttribute = "" }, WantErr: "pid_attribute"},
		{Name: "negative ttl", Mutate: func(c *Config) { c.StateTTL = -time.Second }, WantErr: "state_ttl"},
	})
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
	assert.Equal(t, &Config{K: 5, Metric: "memory", Config: processstate.Config{
		CriticalPattern: "otelcol-.*|sshd",
		NameAttribute:   "process.command",
		HostAttribute:   "host.id",
		PIDAttribute:    "process.pid", // not configured: the default
		CPUMetric:       "my.cpu",
		MemoryMetric:    "my.mem",
		StaleIntervals:  3,
		StateTTL:        90 * time.Second,
	}}, cfg)

	bad := confmap.NewFromStringMap(map[string]any{"no_such_key": 1})
	require.Error(t, bad.Unmarshal(createDefaultConfig()))
}

// ---------------------------------------------------------------------------
// Factory
// ---------------------------------------------------------------------------

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "topk", f.Type().String())
	assert.Equal(t, component.StabilityLevelDevelopment, f.MetricsStability())

	md := pmetric.NewMetrics()
	for i := int64(1); i <= 15; i++ {
		statetest.AddProcess(md, baseTime, statetest.Proc{PID: i, Name: "worker", Host: "h", CPU: float64(i), Mem: 1 << 20, Start: baseTime.Add(-100 * time.Second)})
	}
	out := statetest.ThroughFactory(t, f, f.CreateDefaultConfig(), md)
	require.NotNil(t, out)
	assert.Equal(t, []int64{6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, statetest.PIDs(*out))
	processortest.VerifyShutdown(t, f, f.CreateDefaultConfig())

	_, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), consumertest.NewNop())
	require.Error(t, err, "traces are not supported")
}

// ---------------------------------------------------------------------------
// Selection
// ---------------------------------------------------------------------------

func TestFirstCallEstimatesFromStartTimestamp(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 2 })
	started := baseTime.Add(-100 * time.Second)
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "a", CPU: 50, Start: started},  // 0.5 cores
		statetest.Proc{PID: 2, Name: "b", CPU: 10, Start: started},  // 0.1 cores
		statetest.Proc{PID: 3, Name: "c", CPU: 80, Start: started},  // 0.8 cores
		statetest.Proc{PID: 4, Name: "d", CPU: 5000},                // no start time: 0
		statetest.Proc{PID: 5, Name: "e", CPU: 20, Start: baseTime}, // start == ts: 0
	)
	out := run(t, p, md)
	assert.Equal(t, []int64{1, 3}, statetest.PIDs(out), "input order is preserved")
}

func TestTopKByRateFromDeltas(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) { c.K = 2 })
	started := baseTime.Add(-1000 * time.Second)
	first := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "was-busy", CPU: 900, Start: started},    // avg 0.9
		statetest.Proc{PID: 2, Name: "now-busy", CPU: 10, Start: started},     // avg 0.01
		statetest.Proc{PID: 3, Name: "steady", CPU: 100, Start: started},      // avg 0.1
		statetest.Proc{PID: 4, Name: "idle-now", CPU: 500, Start: started},    // avg 0.5
		statetest.Proc{PID: 5, Name: "tiny", CPU: 1, Start: started, Mem: 10}, // avg 0.001
	)
	assert.Equal(t, []int64{1, 4}, statetest.PIDs(run(t, p, first)))

	clock.T = baseTime.Add(10 * time.Second)
	second := statetest.Build(clock.T,
		statetest.Proc{PID: 1, Name: "was-busy", CPU: 900.5, Start: started}, // 0.05
		statetest.Proc{PID: 2, Name: "now-busy", CPU: 30, Start: started},    // 2.0
		statetest.Proc{PID: 3, Name: "steady", CPU: 105, Start: started},     // 0.5
		statetest.Proc{PID: 4, Name: "idle-now", CPU: 500, Start: started},   // 0
		statetest.Proc{PID: 5, Name: "tiny", CPU: 1.2, Start: started},       // 0.02
	)
	assert.Equal(t, []int64{2, 3}, statetest.PIDs(run(t, p, second)))

	// Rates come from data point timestamps, not from the wall clock.
	clock.T = baseTime.Add(time.Hour)
	third := statetest.Build(baseTime.Add(20*time.Second),
		statetest.Proc{PID: 1, Name: "was-busy", CPU: 920.5, Start: started}, // 2.0
		statetest.Proc{PID: 2, Name: "now-busy", CPU: 30, Start: started},    // 0
		statetest.Proc{PID: 3, Name: "steady", CPU: 106, Start: started},     // 0.1
		statetest.Proc{PID: 4, Name: "idle-now", CPU: 500, Start: started},   // 0
		statetest.Proc{PID: 5, Name: "tiny", CPU: 11.2, Start: started},      // 1.0
	)
	assert.Equal(t, []int64{1, 5}, statetest.PIDs(run(t, p, third)))
}

func TestCriticalAlwaysKept(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) {
		c.K = 1
		c.CriticalPattern = "otelcol.*|sshd"
	})
	started := baseTime.Add(-100 * time.Second)
	mk := func(ts time.Time, scale float64) pmetric.Metrics {
		return statetest.Build(ts,
			statetest.Proc{PID: 10, Name: "sshd", CPU: 0, Start: started},
			statetest.Proc{PID: 11, Name: "otelcol-contrib", NoCPU: true},
			statetest.Proc{PID: 12, Name: "sshd-session", CPU: 90 * scale, Start: started}, // not a full match
			statetest.Proc{PID: 13, Name: "xsshd", CPU: 80 * scale, Start: started},        // not a full match
			statetest.Proc{PID: 14, Name: "java", CPU: 70 * scale, Start: started},
		)
	}
	out := run(t, p, mk(baseTime, 1))
	assert.Equal(t, []int64{10, 11, 12}, statetest.PIDs(out))

	clock.T = baseTime.Add(10 * time.Second)
	out = run(t, p, mk(clock.T, 1.5))
	assert.Equal(t, []int64{10, 11, 12}, statetest.PIDs(out))

	// Critical resources keep all their metrics.
	rm := out.ResourceMetrics().At(0)
	assert.Equal(t, 4, rm.ScopeMetrics().At(0).Metrics().Len())
}

func TestCriticalWithKZero(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) {
		c.K = 0
		c.CriticalPattern = "sshd"
	})
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "sshd", Host: "a"},
		statetest.Proc{PID: 2, Name: "java", Host: "a", CPU: 100, Start: baseTime.Add(-time.Second)},
		statetest.Proc{PID: 3, Name: "sshd", Host: "b"},
		statetest.Proc{PID: 4, Name: "java", Host: "b", CPU: 100, Start: baseTime.Add(-time.Second)},
	)
	statetest.AddNonProcess(md, baseTime, "a")
	out := run(t, p, md)
	assert.Equal(t, map[string][]int64{"a": {1}, "b": {3}}, statetest.HostPIDs(out))
	assert.Equal(t, 3, out.ResourceMetrics().Len())
}

func TestKZeroDropsAllNonCritical(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 0 })
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "a", CPU: 1, Start: baseTime.Add(-time.Second)},
		statetest.Proc{PID: 2, Name: "b", CPU: 2, Start: baseTime.Add(-time.Second)},
	)
	out, err := p.ProcessMetrics(context.Background(), md)
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	assert.Equal(t, 0, out.ResourceMetrics().Len())

	// Through the pipeline helper nothing reaches the next consumer.
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.K = 0
	assert.Nil(t, statetest.ThroughFactory(t, f, cfg, statetest.Build(baseTime, statetest.Proc{PID: 1, Name: "a"})))
}

func TestKLargerThanProcessCount(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 10 })
	md := statetest.Build(baseTime, statetest.Proc{PID: 3, Name: "a"}, statetest.Proc{PID: 1, Name: "b"}, statetest.Proc{PID: 2, Name: "c"})
	assert.Equal(t, []int64{3, 1, 2}, statetest.PIDs(run(t, p, md)))
}

func TestPerHostGrouping(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *Config) { c.K = 1 })
	started := baseTime.Add(-100 * time.Second)
	first := statetest.Build(baseTime,
		statetest.Proc{PID: 10, Name: "x", Host: "alpha", CPU: 10, Start: started}, // 0.1
		statetest.Proc{PID: 20, Name: "y", Host: "alpha", CPU: 20, Start: started}, // 0.2
		statetest.Proc{PID: 10, Name: "x", Host: "beta", CPU: 30, Start: started},  // 0.3 (same pid, other host)
		statetest.Proc{PID: 20, Name: "y", Host: "beta", CPU: 5, Start: started},   // 0.05
		statetest.Proc{PID: 30, Name: "z", CPU: 1, Start: started},                 // no host
		statetest.Proc{PID: 31, Name: "w", CPU: 2, Start: started},                 // no host
	)
	assert.Equal(t, map[string][]int64{"alpha": {20}, "beta": {10}, "": {31}}, statetest.HostPIDs(run(t, p, first)))

	clock.T = baseTime.Add(10 * time.Second)
	second := statetest.Build(clock.T,
		statetest.Proc{PID: 10, Name: "x", Host: "alpha", CPU: 30, Start: started}, // 2.0
		statetest.Proc{PID: 20, Name: "y", Host: "alpha", CPU: 21, Start: started}, // 0.1
		statetest.Proc{PID: 10, Name: "x", Host: "beta", CPU: 30, Start: started},  // 0
		statetest.Proc{PID: 20, Name: "y", Host: "beta", CPU: 6, Start: started},   // 0.1
		statetest.Proc{PID: 30, Name: "z", CPU: 11, Start: started},                // 1.0
		statetest.Proc{PID: 31, Name: "w", CPU: 2, Start: started},                 // 0
	)
	assert.Equal(t, map[string][]int64{"alpha": {10}, "beta": {20}, "": {30}}, statetest.HostPIDs(run(t, p, second)))
}

func TestHostGroupingDisabled(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) {
		c.K = 1
		c.HostAttribute = ""
	})
	started := baseTime.Add(-100 * time.Second)
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "x", Host: "alpha", CPU: 10, Start: started},
		statetest.Proc{PID: 2, Name: "y", Host: "beta", CPU: 20, Start: started},
	)
	assert.Equal(t, []int64{2}, statetest.PIDs(run(t, p, md)))
}

func TestOnlyNonProcessResources(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 0 })
	md := pmetric.NewMetrics()
	statetest.AddNonProcess(md, baseTime, "alpha")
	statetest.AddNonProcess(md, baseTime, "beta")
	out := run(t, p, md)
	assert.Equal(t, 2, out.ResourceMetrics().Len())
	assert.Equal(t, 0, p.TrackedProcesses())
}

func TestEmptyInput(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	out := run(t, p, pmetric.NewMetrics())
	assert.Equal(t, 0, out.ResourceMetrics().Len())
}

func TestRankByMemory(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) {
		c.K = 2
		c.Metric = "memory"
	})
	started := baseTime.Add(-100 * time.Second)
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "a", CPU: 90, Mem: 100, Start: started},
		statetest.Proc{PID: 2, Name: "b", CPU: 1, Mem: 5000, Start: started},
		statetest.Proc{PID: 3, Name: "c", CPU: 2, Mem: 3000, Start: started},
		statetest.Proc{PID: 4, Name: "d", CPU: 50, Mem: 3000, Start: started}, // beats pid 3 on CPU
	)
	assert.Equal(t, []int64{2, 4}, statetest.PIDs(run(t, p, md)))
}

// Ties are ranked by processstate.SortBusiest (tested there); with no CPU
// metric at all, memory and then pid decide.
func TestTieBreaksWithoutCPUMetric(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.K = 1 })
	md := statetest.Build(baseTime, statetest.Proc{PID: 8, Name: "a", NoCPU: true}, statetest.Proc{PID: 4, Name: "b", NoCPU: true})
	assert.Equal(t, []int64{4}, statetest.PIDs(run(t, p, md)))
}

// ---------------------------------------------------------------------------
// Telemetry
// ---------------------------------------------------------------------------

func TestTelemetryCounters(t *testing.T) {
	set, counter := statetest.Telemetry(t, kind.Type())
	cfg := createDefaultConfig()
	cfg.K = 2
	p, err := kind.NewProcessor(set, cfg)
	require.NoError(t, err)
	md := statetest.Build(baseTime, statetest.Proc{PID: 1, Name: "a"}, statetest.Proc{PID: 2, Name: "b"}, statetest.Proc{PID: 3, Name: "c"}, statetest.Proc{PID: 4, Name: "d"}, statetest.Proc{PID: 5, Name: "e"})
	statetest.AddNonProcess(md, baseTime, "")
	run(t, p, md)
	assert.Equal(t, int64(2), counter("otelcol_processor_topk_processes_kept"))
	assert.Equal(t, int64(3), counter("otelcol_processor_topk_processes_dropped"))
}
