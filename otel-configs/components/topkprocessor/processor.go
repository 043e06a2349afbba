package topkprocessor // import "phoenix-harness.dev/otelcol/topkprocessor"

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"phoenix-harness.dev/otelcol/processstate"
)

// kind is the topk processor: the shared process machinery with the top-K
// selection as its rule.
var kind = processstate.NewKind(component.MustNewType("topk"), component.StabilityLevelDevelopment,
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
	processstate.SortBusiest(candidates, s.byMemory)
	return candidates[s.k:]
}
