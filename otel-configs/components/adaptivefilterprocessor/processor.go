package adaptivefilterprocessor // import "phoenix-harness.dev/otelcol/adaptivefilterprocessor"

import (
	"sort"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"phoenix-harness.dev/otelcol/processstate"
)

// kind is the adaptive_filter processor: the shared process machinery with
// the load-scaled thresholds and the cap as its rule.
var kind = processstate.NewKind(component.MustNewType("adaptive_filter"), component.StabilityLevelDevelopment,
	"phoenix-harness.dev/otelcol/adaptivefilterprocessor", createDefaultConfig, newAdaptiveFilter)

// NewFactory returns a factory for the adaptive_filter processor (metrics only).
func NewFactory() processor.Factory { return kind.NewFactory() }

// adaptiveFilter is the keep rule: thresholds scaled by host load, a cap per
// host, critical processes always kept.
type adaptiveFilter struct {
	cpuThreshold    float64
	memoryThreshold float64
	numCPUs         float64
	tiers           []LoadTier // sorted by Above ascending
	maxSeries       int
}

func newAdaptiveFilter(set processor.Settings, cfg *Config) *adaptiveFilter {
	tiers := append([]LoadTier(nil), cfg.LoadTiers...)
	sort.Slice(tiers, func(i, j int) bool { return tiers[i].Above < tiers[j].Above })
	numCPUs := max(cfg.NumCPUs, 1)
	set.Logger.Debug("adaptive_filter processor created",
		zap.Float64("cpu_threshold", cfg.CPUThreshold),
		zap.Int64("memory_threshold_bytes", cfg.MemoryThresholdBytes),
		zap.Int("num_cpus", numCPUs),
		zap.Int("max_series", cfg.MaxSeries),
		zap.String("critical_pattern", cfg.CriticalPattern),
	)
	return &adaptiveFilter{
		cpuThreshold:    cfg.CPUThreshold,
		memoryThreshold: float64(cfg.MemoryThresholdBytes),
		numCPUs:         float64(numCPUs),
		tiers:           tiers,
		maxSeries:       cfg.MaxSeries,
	}
}

// hostLoad is the sum of the CPU rates of a host's processes divided by its
// number of CPUs.
func (f *adaptiveFilter) hostLoad(h *processstate.Host) float64 {
	cpus := f.numCPUs
	if h.CPUCount > 0 {
		cpus = float64(h.CPUCount)
	}
	total := 0.0
	for _, pr := range h.Procs {
		total += pr.CPURate
	}
	return total / cpus
}

// multiplier returns the multiplier of the highest tier whose Above is
// strictly below load, or 1 when no tier applies.
func (f *adaptiveFilter) multiplier(load float64) float64 {
	m := 1.0
	for _, tier := range f.tiers {
		if tier.Above < load {
			m = tier.Multiplier
		}
	}
	return m
}

// Drop returns the process resources of one host to drop.
func (f *adaptiveFilter) Drop(h *processstate.Host) (drop []*processstate.Process) {
	mult := f.multiplier(f.hostLoad(h))
	cpuThreshold := f.cpuThreshold * mult
	memoryThreshold := f.memoryThreshold * mult

	critical := 0
	candidates := make([]*processstate.Process, 0, len(h.Procs))
	for _, pr := range h.Procs {
		switch {
		case pr.Critical:
			critical++
		case pr.CPURate >= cpuThreshold || pr.Memory >= memoryThreshold:
			candidates = append(candidates, pr)
		default:
			drop = append(drop, pr)
		}
	}
	if f.maxSeries == 0 || critical+len(candidates) <= f.maxSeries {
		return drop
	}
	room := max(f.maxSeries-critical, 0)
	processstate.SortBusiest(candidates, false)
	return append(drop, candidates[room:]...)
}
