package adaptivefilterprocessor // import "phoenix-harness.dev/otelcol/adaptivefilterprocessor"

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"phoenix-harness.dev/otelcol/processstate"
)

const (
	defaultCPUThreshold         = 0.05
	defaultMemoryThresholdBytes = 104857600 // 100 MiB
	defaultMaxSeries            = 50
)

// LoadTier raises the thresholds while the host load is above a fraction.
type LoadTier struct {
	// Above is the host load fraction (CPU rate sum / number of CPUs) that
	// must be exceeded for the tier to apply.
	Above float64 `mapstructure:"above"`
	// Multiplier scales both thresholds while the tier applies.
	Multiplier float64 `mapstructure:"multiplier"`
}

// Config defines the configuration of the adaptive_filter processor.
type Config struct {
	// CPUThreshold is the base CPU rate (cores) a non-critical process needs.
	CPUThreshold float64 `mapstructure:"cpu_threshold"`
	// MemoryThresholdBytes is the base memory usage a non-critical process
	// needs (alternative to CPUThreshold).
	MemoryThresholdBytes int64 `mapstructure:"memory_threshold_bytes"`
	// NumCPUs is the number of CPUs used to compute the host load.
	NumCPUs int `mapstructure:"num_cpus"`
	// LoadTiers scale the thresholds by host load. The tier with the highest
	// Above that is below the current load applies; none means multiplier 1.
	LoadTiers []LoadTier `mapstructure:"load_tiers"`
	// MaxSeries caps the process resources kept per host and call. Critical
	// processes are never dropped by the cap. Zero disables the cap.
	MaxSeries int `mapstructure:"max_series"`

	// The process settings shared with the other process-selecting
	// processors (critical pattern, attributes, metrics, state expiry).
	processstate.Config `mapstructure:",squash"`
}

func defaultLoadTiers() []LoadTier {
	return []LoadTier{
		{Above: 0.6, Multiplier: 1.5},
		{Above: 0.8, Multiplier: 2.0},
	}
}

func createDefaultConfig() *Config {
	return &Config{
		CPUThreshold:         defaultCPUThreshold,
		MemoryThresholdBytes: defaultMemoryThresholdBytes,
		NumCPUs:              runtime.NumCPU(),
		LoadTiers:            defaultLoadTiers(),
		MaxSeries:            defaultMaxSeries,
		Config:               processstate.DefaultConfig(),
	}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if math.IsNaN(cfg.CPUThreshold) || math.IsInf(cfg.CPUThreshold, 0) || cfg.CPUThreshold < 0 {
		errs = append(errs, fmt.Errorf("cpu_threshold must be a finite number >= 0, got %v", cfg.CPUThreshold))
	}
	if cfg.MemoryThresholdBytes < 0 {
		errs = append(errs, fmt.Errorf("memory_threshold_bytes must be >= 0, got %d", cfg.MemoryThresholdBytes))
	}
	if cfg.NumCPUs < 1 {
		errs = append(errs, fmt.Errorf("num_cpus must be >= 1, got %d", cfg.NumCPUs))
	}
	seen := map[float64]bool{}
	for i, tier := range cfg.LoadTiers {
		if math.IsNaN(tier.Above) || math.IsInf(tier.Above, 0) || tier.Above < 0 {
			errs = append(errs, fmt.Errorf("load_tiers[%d]: above must be a finite number >= 0, got %v", i, tier.Above))
		} else if seen[tier.Above] {
			errs = append(errs, fmt.Errorf("load_tiers[%d]: duplicate above value %v", i, tier.Above))
		}
		seen[tier.Above] = true
		if math.IsNaN(tier.Multiplier) || math.IsInf(tier.Multiplier, 0) || tier.Multiplier <= 0 {
			errs = append(errs, fmt.Errorf("load_tiers[%d]: multiplier must be a finite number > 0, got %v", i, tier.Multiplier))
		}
	}
	if cfg.MaxSeries < 0 {
		errs = append(errs, fmt.Errorf("max_series must be >= 0 (0 disables the cap), got %d", cfg.MaxSeries))
	}
	errs = append(errs, cfg.ValidateShared())
	return errors.Join(errs...)
}
