package processstate

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"

	"phoenix-harness.dev/otelcol/processstate/statetest"
)

var testType = component.MustNewType("min_rate")

// minRate drops the non-critical processes below min_rate cores.
type minRate struct{ min float64 }

func (r minRate) Drop(h *Host) (drop []*Process) {
	for _, p := range h.Procs {
		if !p.Critical && p.CPURate < r.min {
			drop = append(drop, p)
		}
	}
	return drop
}

func newTestConfig() *testConfig { return &testConfig{Config: DefaultConfig(), MinRate: 0.05} }

var testKind = NewKind(testType, component.StabilityLevelDevelopment, "phoenix-harness.dev/otelcol/processstate/test",
	newTestConfig, func(_ processor.Settings, c *testConfig) minRate { return minRate{c.MinRate} })

func newTestProcessor(t *testing.T, mutate func(*testConfig)) (*Processor, *statetest.Clock) {
	return statetest.NewProcessor(t, testKind, newTestConfig(), mutate)
}

var run = statetest.Run

func TestFactory(t *testing.T) {
	f := testKind.NewFactory()
	assert.Equal(t, testType, f.Type())
	assert.Equal(t, component.StabilityLevelDevelopment, f.MetricsStability())

	started := baseTime.Add(-100 * time.Second)
	out := statetest.ThroughFactory(t, f, f.CreateDefaultConfig(), statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "busy", CPU: 10, Start: started}, // 0.1 cores
		statetest.Proc{PID: 2, Name: "idle", CPU: 1, Start: started},  // 0.01 cores
	))
	require.NotNil(t, out)
	assert.Equal(t, []int64{1}, statetest.PIDs(*out))
	assert.Nil(t, statetest.ThroughFactory(t, f, f.CreateDefaultConfig(), statetest.Build(baseTime, statetest.Proc{PID: 2, Name: "idle"})),
		"an empty batch is not forwarded")

	_, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), consumertest.NewNop())
	require.Error(t, err, "traces are not supported")
	processortest.VerifyShutdown(t, f, f.CreateDefaultConfig())
}

func TestFactoryRejectsBadPattern(t *testing.T) {
	f := testKind.NewFactory()
	cfg := f.CreateDefaultConfig().(*testConfig)
	cfg.CriticalPattern = "[unclosed"
	_, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	require.ErrorContains(t, err, "invalid critical_pattern")
}

func TestProcessorRuleSeesRatesAndCritical(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *testConfig) { c.CriticalPattern = "sshd" })
	started := baseTime.Add(-100 * time.Second)
	out := run(t, p, statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "sshd", Start: started},            // idle but critical
		statetest.Proc{PID: 2, Name: "worker", CPU: 50, Start: started}, // 0.5 cores
		statetest.Proc{PID: 3, Name: "worker", CPU: 1, Start: started},  // 0.01 cores
	))
	assert.Equal(t, []int64{1, 2}, statetest.PIDs(out))
}

func TestProcessorPassesNonProcessResourcesThroughInOrder(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	started := baseTime.Add(-100 * time.Second)
	md := pmetric.NewMetrics()
	statetest.AddNonProcess(md, baseTime, "alpha")
	statetest.AddProcess(md, baseTime, statetest.Proc{PID: 1, Name: "a", Host: "alpha", CPU: 1, Start: started})
	statetest.AddProcess(md, baseTime, statetest.Proc{PID: 2, Name: "b", Host: "alpha", CPU: 20, Start: started})
	statetest.AddNonProcess(md, baseTime, "")
	odd := md.ResourceMetrics().AppendEmpty()
	odd.Resource().Attributes().PutBool("process.pid", true)
	odd.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("custom")
	expected := pmetric.NewMetrics()
	md.CopyTo(expected)

	out := run(t, p, md)
	require.Equal(t, 4, out.ResourceMetrics().Len())
	assert.Equal(t, []int64{2}, statetest.PIDs(out))
	for outIdx, inIdx := range map[int]int{0: 0, 1: 2, 2: 3, 3: 4} {
		assert.Equal(t, expected.ResourceMetrics().At(inIdx), out.ResourceMetrics().At(outIdx), "resource %d", inIdx)
	}
}

func TestProcessorNothingLeft(t *testing.T) {
	p, _ := newTestProcessor(t, nil)
	md := statetest.Build(baseTime, statetest.Proc{PID: 1, Name: "a", NoCPU: true}, statetest.Proc{PID: 2, Name: "b", NoCPU: true})
	out, err := p.ProcessMetrics(context.Background(), md)
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	assert.Equal(t, 0, out.ResourceMetrics().Len())

	empty, err := p.ProcessMetrics(context.Background(), pmetric.NewMetrics())
	require.NoError(t, err)
	assert.Equal(t, 0, empty.ResourceMetrics().Len())
	assert.Equal(t, 0, p.TrackedProcesses(), "no CPU samples, no state")
}

type dropFirstTwice struct{}

func (dropFirstTwice) Drop(h *Host) []*Process { return []*Process{h.Procs[0], h.Procs[0]} }

func TestProcessorDropsAProcessOnceWhenRuleRepeatsIt(t *testing.T) {
	k := NewKind(testType, component.StabilityLevelDevelopment, "test", newTestConfig,
		func(processor.Settings, *testConfig) dropFirstTwice { return dropFirstTwice{} })
	set, counter := statetest.Telemetry(t, testType)
	p, err := k.NewProcessor(set, newTestConfig())
	require.NoError(t, err)
	out := run(t, p, statetest.Build(baseTime, statetest.Proc{PID: 1, Name: "a"}, statetest.Proc{PID: 2, Name: "b"}))
	assert.Equal(t, []int64{2}, statetest.PIDs(out))
	assert.Equal(t, int64(1), counter("otelcol_processor_min_rate_processes_dropped"))
}

func TestProcessorCounters(t *testing.T) {
	set, counter := statetest.Telemetry(t, testType)
	p, err := testKind.NewProcessor(set, newTestConfig())
	require.NoError(t, err)

	started := baseTime.Add(-100 * time.Second)
	md := statetest.Build(baseTime,
		statetest.Proc{PID: 1, Name: "a", CPU: 50, Start: started},
		statetest.Proc{PID: 2, Name: "b"},
		statetest.Proc{PID: 3, Name: "c"},
	)
	statetest.AddNonProcess(md, baseTime, "")
	run(t, p, md)
	run(t, p, statetest.Build(baseTime, statetest.Proc{PID: 4, Name: "d"}, statetest.Proc{PID: 5, Name: "e", CPU: 50, Start: started}))

	assert.Equal(t, int64(2), counter("otelcol_processor_min_rate_processes_kept"), "non-process resources are not counted")
	assert.Equal(t, int64(3), counter("otelcol_processor_min_rate_processes_dropped"))
}

func TestProcessorStateExpiresOnTheClock(t *testing.T) {
	p, clock := newTestProcessor(t, func(c *testConfig) { c.StateTTL = time.Minute })
	started := baseTime.Add(-100 * time.Second)
	run(t, p, statetest.Build(baseTime, statetest.Proc{PID: 1, Name: "a", Host: "gone", CPU: 50, Start: started}))
	run(t, p, statetest.Build(baseTime, statetest.Proc{PID: 1, Name: "a", Host: "stays", CPU: 50, Start: started}))
	require.Equal(t, 2, p.TrackedProcesses())
	clock.T = baseTime.Add(2 * time.Minute)
	run(t, p, statetest.Build(clock.T, statetest.Proc{PID: 1, Name: "a", Host: "stays", CPU: 60, Start: started}))
	assert.Equal(t, 1, p.TrackedProcesses())
}

// Run with -race: calls for different hosts may arrive concurrently.
func TestProcessorConcurrentCalls(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *testConfig) {
		c.StateTTL = 0
		c.MinRate = 5
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
					// pid p uses p cores, so pids 5..10 stay from the second call on.
					statetest.AddProcess(md, ts, statetest.Proc{PID: pid, Name: "p", Host: host, CPU: float64(i) * float64(pid), Start: baseTime.Add(-time.Minute)})
				}
				out, err := p.ProcessMetrics(context.Background(), md)
				if i == 0 {
					continue // first sight, no start-based estimate reaches 5 cores
				}
				if err != nil {
					t.Error(err)
					return
				}
				if got := statetest.PIDs(out); len(got) != 6 || got[0] != 5 {
					t.Errorf("call %d on %s: kept %v", i, host, got)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	assert.Equal(t, 80, p.TrackedProcesses())
}
