package topkprocessor // import "phoenix-harness.dev/otelcol/topkprocessor"

import (
	"sort"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"phoenix-harness.dev/otelcol/processstate"
)

// componentType is the component type of the topk processor.
var componentType = component.MustNewType("topk")

// kind is the topk processor: the shared process machinery with the top-K
// selection as its rule.
var kind = processstate.NewKind(componentType, component.StabilityLevelDevelopment,
	"phoenix-harness.dev/otelcol/topkprocessor", createDefaultConfig, newTopK)

// NewFactory returns a factory for the topk processor (metrics only).
func NewFactory() processor.Factory { return kind.NewFactory() }

// topK is the selection rule: every critical process, plus the k highest
// ranked non-critical ones per host.
type topK struct {
	k        int
	byMemory bool
}

func newTopK(set processor.Settings, cfg *Config) *topK {
	set.Logger.Debug("topk processor created",
		zap.Int("k", cfg.K),
		zap.String("metric", cfg.Metric),
		zap.String("critical_pattern", cfg.CriticalPattern),
	)
	return &topK{k: cfg.K, byMemory: cfg.Metric == MetricMemory}
}

// Drop returns the process resources of one host to drop: the non-critical
// ones ranked below the k-th.
func (s *topK) Drop(h *processstate.Host) []*processstate.Process {
	candidates := make([]*processstate.Process, 0, len(h.Procs))
	for _, pr := range h.Procs {
		if !pr.Critical {
			candidates = append(candidates, pr)
		}
	}
	if len(candidates) <= s.k {
		return nil
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		return s.less(candidates[i], candidates[j])
	})
	return candidates[s.k:]
}

// less reports whether a ranks before b: primary key descending (CPU rate
// or memory), then the other key descending, then lower pid, then input order.
func (s *topK) less(a, b *processstate.Process) bool {
	first, second := [2]float64{a.CPURate, a.Memory}, [2]float64{b.CPURate, b.Memory}
	if s.byMemory {
		first[0], first[1] = first[1], first[0]
		second[0], second[1] = second[1], second[0]
	}
	for i := range first {
		if first[i] != second[i] {
			return first[i] > second[i]
		}
	}
	if a.PID != b.PID {
		return a.PID < b.PID
	}
	return a.Index < b.Index
}
