package adaptivefilterprocessor // import "phoenix-harness.dev/otelcol/adaptivefilterprocessor"

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

const scopeName = "phoenix-harness.dev/otelcol/adaptivefilterprocessor"

type adaptiveFilterProcessor struct {
	logger          *zap.Logger
	cpuThreshold    float64
	memoryThreshold float64
	numCPUs         float64
	tiers           []LoadTier // sorted by Above ascending
	maxSeries       int
	extract         extractor
	tracker         *rateTracker
	now             func() time.Time

	keptCounter    metric.Int64Counter
	droppedCounter metric.Int64Counter
}

func newAdaptiveFilterProcessor(set processor.Settings, cfg *Config) (*adaptiveFilterProcessor, error) {
	critical, err := compileCritical(cfg.CriticalPattern)
	if err != nil {
		return nil, err
	}
	meter := set.MeterProvider.Meter(scopeName)
	kept, err := meter.Int64Counter(
		"otelcol_processor_adaptive_filter_processes_kept",
		metric.WithDescription("Number of process resources kept by the adaptive_filter processor."),
		metric.WithUnit("{processes}"),
	)
	if err != nil {
		return nil, fmt.Errorf("creating kept counter: %w", err)
	}
	dropped, err := meter.Int64Counter(
		"otelcol_processor_adaptive_filter_processes_dropped",
		metric.WithDescription("Number of process resources dropped by the adaptive_filter processor."),
		metric.WithUnit("{processes}"),
	)
	if err != nil {
		return nil, fmt.Errorf("creating dropped counter: %w", err)
	}
	tiers := append([]LoadTier(nil), cfg.LoadTiers...)
	sort.Slice(tiers, func(i, j int) bool { return tiers[i].Above < tiers[j].Above })
	numCPUs := cfg.NumCPUs
	if numCPUs < 1 {
		numCPUs = 1
	}
	p := &adaptiveFilterProcessor{
		logger:          set.Logger,
		cpuThreshold:    cfg.CPUThreshold,
		memoryThreshold: float64(cfg.MemoryThresholdBytes),
		numCPUs:         float64(numCPUs),
		tiers:           tiers,
		maxSeries:       cfg.MaxSeries,
		extract: extractor{
			critical:     critical,
			nameAttr:     cfg.NameAttribute,
			hostAttr:     cfg.HostAttribute,
			pidAttr:      cfg.PIDAttribute,
			cpuMetric:    cfg.CPUMetric,
			memoryMetric: cfg.MemoryMetric,
			cpuCountAttr: cpuCountAttribute,
		},
		tracker:        newRateTracker(cfg.StaleIntervals, cfg.StateTTL),
		now:            time.Now,
		keptCounter:    kept,
		droppedCounter: dropped,
	}
	p.logger.Debug("adaptive_filter processor created",
		zap.Float64("cpu_threshold", cfg.CPUThreshold),
		zap.Int64("memory_threshold_bytes", cfg.MemoryThresholdBytes),
		zap.Int("num_cpus", numCPUs),
		zap.Int("max_series", cfg.MaxSeries),
		zap.String("critical_pattern", cfg.CriticalPattern),
	)
	return p, nil
}

func (p *adaptiveFilterProcessor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	rms := md.ResourceMetrics()
	groups, processes := p.extract.collect(rms)
	if processes == 0 {
		return md, nil
	}
	p.tracker.update(p.now(), groups)

	drop := make([]bool, rms.Len())
	dropped := 0
	for _, g := range groups {
		dropped += p.selectGroup(g, drop)
	}
	if dropped > 0 {
		i := 0
		rms.RemoveIf(func(pmetric.ResourceMetrics) bool {
			d := drop[i]
			i++
			return d
		})
		p.droppedCounter.Add(ctx, int64(dropped))
	}
	p.keptCounter.Add(ctx, int64(processes-dropped))
	if rms.Len() == 0 {
		return md, processorhelper.ErrSkipProcessingData
	}
	return md, nil
}

// hostLoad is the sum of the CPU rates of a host's processes divided by its
// number of CPUs.
func (p *adaptiveFilterProcessor) hostLoad(g *hostGroup) float64 {
	cpus := p.numCPUs
	if g.cpuCount > 0 {
		cpus = float64(g.cpuCount)
	}
	total := 0.0
	for _, pr := range g.procs {
		total += pr.cpuRate
	}
	return total / cpus
}

// multiplier returns the multiplier of the highest tier whose Above is
// strictly below load, or 1 when no tier applies.
func (p *adaptiveFilterProcessor) multiplier(load float64) float64 {
	m := 1.0
	for _, tier := range p.tiers {
		if tier.Above < load {
			m = tier.Multiplier
		}
	}
	return m
}

// selectGroup marks the process resources of one host to drop and returns
// how many were marked.
func (p *adaptiveFilterProcessor) selectGroup(g *hostGroup, drop []bool) int {
	mult := p.multiplier(p.hostLoad(g))
	cpuThreshold := p.cpuThreshold * mult
	memoryThreshold := p.memoryThreshold * mult

	critical := 0
	dropped := 0
	candidates := make([]*processInfo, 0, len(g.procs))
	for _, pr := range g.procs {
		switch {
		case pr.critical:
			critical++
		case pr.cpuRate >= cpuThreshold || pr.memory >= memoryThreshold:
			candidates = append(candidates, pr)
		default:
			drop[pr.index] = true
			dropped++
		}
	}
	if p.maxSeries == 0 || critical+len(candidates) <= p.maxSeries {
		return dropped
	}
	room := max(p.maxSeries-critical, 0)
	sort.SliceStable(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		if a.cpuRate != b.cpuRate {
			return a.cpuRate > b.cpuRate
		}
		if a.memory != b.memory {
			return a.memory > b.memory
		}
		if a.pid != b.pid {
			return a.pid < b.pid
		}
		return a.index < b.index
	})
	for _, c := range candidates[room:] {
		drop[c.index] = true
		dropped++
	}
	return dropped
}
