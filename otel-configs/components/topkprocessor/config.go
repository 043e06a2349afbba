package topkprocessor // import "phoenix-harness.dev/otelcol/topkprocessor"

import (
	"errors"
	"fmt"

	"phoenix-harness.dev/otelcol/processstate"
)

const (
	// MetricCPU ranks processes by CPU rate (cores).
	MetricCPU = "cpu"
	// MetricMemory ranks processes by memory usage (bytes).
	MetricMemory = "memory"

	defaultK = 10
)

// Config defines the configuration of the topk processor.
type Config struct {
	// K is the number of non-critical processes kept per host and call.
	K int `mapstructure:"k"`
	// Metric selects the primary ranking key: "cpu" or "memory".
	Metric string `mapstructure:"metric"`

	// The process settings shared with the other process-selecting
	// processors (critical pattern, attributes, metrics, state expiry).
	processstate.Config `mapstructure:",squash"`
}

func createDefaultConfig() *Config {
	return &Config{
		K:      defaultK,
		Metric: MetricCPU,
		Config: processstate.DefaultConfig(),
	}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.K < 0 {
		errs = append(errs, fmt.Errorf("k must be >= 0, got %d", cfg.K))
	}
	if cfg.Metric != MetricCPU && cfg.Metric != MetricMemory {
		errs = append(errs, fmt.Errorf("metric must be %q or %q, got %q", MetricCPU, MetricMemory, cfg.Metric))
	}
	errs = append(errs, cfg.ValidateShared())
	return errors.Join(errs...)
}
