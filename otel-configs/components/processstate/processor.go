package processstate // import "phoenix-harness.dev/otelcol/processstate"

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/metric"
)

// Decide is a processor's own rule. It gets the processes of one host in one
// call, CPU rates filled in, and returns those to drop.
type Decide func(h *Host) (drop []*Process)

// Kind describes one processor built on this module: its identity and how
// its rule is made from its configuration. Everything else (finding the
// processes, CPU rates and their state, removing the dropped resources,
// counting) is the same for every kind.
type Kind struct {
	Type      component.Type
	Stability component.StabilityLevel
	// ScopeName is the instrumentation scope of the processor's counters.
	ScopeName string
	// DefaultConfig returns the processor's default configuration.
	DefaultConfig func() component.Config
	// Rule returns the processor's Decide for cfg (a validated configuration
	// of the processor's own type) and the shared part of cfg.
	Rule func(set processor.Settings, cfg component.Config) (Decide, *Config)
}

// NewFactory returns a factory for the kind's processor (metrics only).
func (k Kind) NewFactory() processor.Factory {
	return processor.NewFactory(
		k.Type,
		k.DefaultConfig,
		processor.WithMetrics(k.createMetrics, k.Stability),
	)
}

func (k Kind) createMetrics(
	ctx context.Context,
	set processor.Settings,
	cfg component.Config,
	next consumer.Metrics,
) (processor.Metrics, error) {
	p, err := k.NewProcessor(set, cfg)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(
		ctx,
		set,
		cfg,
		next,
		p.ProcessMetrics,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
	)
}

// Processor applies a kind's rule to every host of every call.
type Processor struct {
	extract extractor
	rates   *rateTracker
	decide  Decide
	now     func() time.Time

	keptCounter    metric.Int64Counter
	droppedCounter metric.Int64Counter
}

// NewProcessor builds the kind's processor for cfg.
func (k Kind) NewProcessor(set processor.Settings, cfg component.Config) (*Processor, error) {
	decide, shared := k.Rule(set, cfg)
	extract, err := newExtractor(shared)
	if err != nil {
		return nil, err
	}
	meter := set.MeterProvider.Meter(k.ScopeName)
	name := k.Type.String()
	kept, err := meter.Int64Counter(
		"otelcol_processor_"+name+"_processes_kept",
		metric.WithDescription("Number of process resources kept by the "+name+" processor."),
		metric.WithUnit("{processes}"),
	)
	if err != nil {
		return nil, fmt.Errorf("creating kept counter: %w", err)
	}
	dropped, err := meter.Int64Counter(
		"otelcol_processor_"+name+"_processes_dropped",
		metric.WithDescription("Number of process resources dropped by the "+name+" processor."),
		metric.WithUnit("{processes}"),
	)
	if err != nil {
		return nil, fmt.Errorf("creating dropped counter: %w", err)
	}
	return &Processor{
		extract:        extract,
		rates:          newRateTracker(shared.StaleIntervals, shared.StateTTL),
		decide:         decide,
		now:            time.Now,
		keptCounter:    kept,
		droppedCounter: dropped,
	}, nil
}

// SetClock replaces the wall clock used for state_ttl (tests).
func (p *Processor) SetClock(now func() time.Time) { p.now = now }

// TrackedProcesses returns the number of processes whose CPU state is kept.
func (p *Processor) TrackedProcesses() int { return p.rates.entries() }

// ProcessMetrics removes the process resources the rule drops. Resources
// that are not processes pass through; the order of the rest is unchanged.
// When nothing remains the batch is not forwarded.
func (p *Processor) ProcessMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	rms := md.ResourceMetrics()
	hosts, processes := p.extract.collect(rms)
	if processes == 0 {
		return md, nil
	}
	p.rates.update(p.now(), hosts)

	drop := make([]bool, rms.Len())
	dropped := 0
	for _, h := range hosts {
		for _, pr := range p.decide(h) {
			if !drop[pr.Index] {
				drop[pr.Index] = true
				dropped++
			}
		}
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
