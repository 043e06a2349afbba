package topkprocessor // import "phoenix-harness.dev/otelcol/topkprocessor"

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

const scopeName = "phoenix-harness.dev/otelcol/topkprocessor"

type topKProcessor struct {
	logger   *zap.Logger
	k        int
	byMemory bool
	extract  extractor
	tracker  *rateTracker
	now      func() time.Time

	keptCounter    metric.Int64Counter
	droppedCounter metric.Int64Counter
}

func newTopKProcessor(set processor.Settings, cfg *Config) (*topKProcessor, error) {
	critical, err := compileCritical(cfg.CriticalPattern)
	if err != nil {
		return nil, err
	}
	meter := set.MeterProvider.Meter(scopeName)
	kept, err := meter.Int64Counter(
		"otelcol_processor_topk_processes_kept",
		metric.WithDescription("Number of process resources kept by the topk processor."),
		metric.WithUnit("{processes}"),
	)
	if err != nil {
		return nil, fmt.Errorf("creating kept counter: %w", err)
	}
	dropped, err := meter.Int64Counter(
		"otelcol_processor_topk_processes_dropped",
		metric.WithDescription("Number of process resources dropped by the topk processor."),
		metric.WithUnit("{processes}"),
	)
	if err != nil {
		return nil, fmt.Errorf("creating dropped counter: %w", err)
	}
	p := &topKProcessor{
		logger:   set.Logger,
		k:        cfg.K,
		byMemory: cfg.Metric == MetricMemory,
		extract: extractor{
			critical:     critical,
			nameAttr:     cfg.NameAttribute,
			hostAttr:     cfg.HostAttribute,
			pidAttr:      cfg.PIDAttribute,
			cpuMetric:    cfg.CPUMetric,
			memoryMetric: cfg.MemoryMetric,
		},
		tracker:        newRateTracker(cfg.StaleIntervals, cfg.StateTTL),
		now:            time.Now,
		keptCounter:    kept,
		droppedCounter: dropped,
	}
	p.logger.Debug("topk processor created",
		zap.Int("k", cfg.K),
		zap.String("metric", cfg.Metric),
		zap.String("critical_pattern", cfg.CriticalPattern),
	)
	return p, nil
}

func (p *topKProcessor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
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

// selectGroup marks the process resources of one host to drop and returns
// how many were marked: all critical processes stay, plus the k highest
// ranked non-critical ones.
func (p *topKProcessor) selectGroup(g *hostGroup, drop []bool) int {
	candidates := make([]*processInfo, 0, len(g.procs))
	for _, pr := range g.procs {
		if !pr.critical {
			candidates = append(candidates, pr)
		}
	}
	if len(candidates) <= p.k {
		return 0
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		return p.less(candidates[i], candidates[j])
	})
	for _, c := range candidates[p.k:] {
		drop[c.index] = true
	}
	return len(candidates) - p.k
}

// less reports whether a ranks before b: primary key descending (CPU rate
// or memory), then the other key descending, then lower pid, then input order.
func (p *topKProcessor) less(a, b *processInfo) bool {
	first, second := [2]float64{a.cpuRate, a.memory}, [2]float64{b.cpuRate, b.memory}
	if p.byMemory {
		first[0], first[1] = first[1], first[0]
		second[0], second[1] = second[1], second[0]
	}
	for i := range first {
		if first[i] != second[i] {
			return first[i] > second[i]
		}
	}
	if a.pid != b.pid {
		return a.pid < b.pid
	}
	return a.index < b.index
}
