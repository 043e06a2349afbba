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

// Rule is a processor's own decision. Drop gets the processes of one host in
// one call, CPU rates filled in, and returns those to drop.
type Rule interface {
	Drop(h *Host) []*Process
}

// configuration is a processor's configuration type: it embeds Config, whose
// shared method it promotes.
type configuration interface {
	component.Config
	shared() *Config
}

func (cfg *Config) shared() *Config { return cfg }

// Kind is one processor built on this module: its identity, its
// configuration and its rule. Everything else (finding the processes, CPU
// rates and their state, removing the dropped resources, counting) is the
// same for every kind.
type Kind struct {
	typ       component.Type
	stability component.StabilityLevel
	scopeName string
	defaults  func() component.Config
	rule      func(processor.Settings, component.Config) (Rule, *Config)
}

// NewKind returns the kind of processor typ. scopeName is the
// instrumentation scope of its counters; defaults returns its default
// configuration (a type that embeds Config); newRule makes its rule from a
// validated configuration.
func NewKind[C configuration, R Rule](
	typ component.Type,
	stability component.StabilityLevel,
	scopeName string,
	defaults func() C,
	newRule func(processor.Settings, C) R,
) Kind {
	return Kind{
		typ:       typ,
		stability: stability,
		scopeName: scopeName,
		defaults:  func() component.Config { return defaults() },
		rule: func(set processor.Settings, cfg component.Config) (Rule, *Config) {
			c := cfg.(C)
			return newRule(set, c), c.shared()
		},
	}
}

// Type is the component type of the kind's processor.
func (k Kind) Type() component.Type { return k.typ }

// NewFactory returns a factory for the kind's processor (metrics only).
func (k Kind) NewFactory() processor.Factory {
	return processor.NewFactory(
		k.typ,
		k.defaults,
		processor.WithMetrics(k.createMetrics, k.stability),
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
	rule    Rule
	now     func() time.Time

	keptCounter    metric.Int64Counter
	droppedCounter metric.Int64Counter
}

// NewProcessor builds the kind's processor for cfg.
func (k Kind) NewProcessor(set processor.Settings, cfg component.Config) (*Processor, error) {
	rule, shared := k.rule(set, cfg)
	extract, err := newExtractor(shared)
	if err != nil {
		return nil, err
	}
	p := &Processor{
		extract: extract,
		rates:   newRateTracker(shared.StaleIntervals, shared.StateTTL),
		rule:    rule,
		now:     time.Now,
	}
	meter := set.MeterProvider.Meter(k.scopeName)
	for _, c := range []struct {
		counter *metric.Int64Counter
		what    string
	}{{&p.keptCounter, "kept"}, {&p.droppedCounter, "dropped"}} {
		*c.counter, err = meter.Int64Counter(
			"otelcol_processor_"+k.typ.String()+"_processes_"+c.what,
			metric.WithDescription("Number of process resources "+c.what+" by the "+k.typ.String()+" processor."),
			metric.WithUnit("{processes}"),
		)
		if err != nil {
			return nil, fmt.Errorf("creating %s counter: %w", c.what, err)
		}
	}
	return p, nil
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
		for _, pr := range p.rule.Drop(h) {
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
