package adaptivefilterprocessor // import "phoenix-harness.dev/otelcol/adaptivefilterprocessor"

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"time"
)

const (
	defaultCPUThreshold         = 0.05
	defaultMemoryThresholdBytes = 104857600 // 100 MiB
	defaultMaxSeries            = 50
	defaultNameAttribute        = "process.executable.name"
	defaultHostAttribute        = "host.name"
	defaultPIDAttribute         = "process.pid"
	defaultCPUMetric            = "process.cpu.time"
	defaultMemoryMetric         = "process.memory.usage"
	defaultStaleIntervals       = 5
	defaultStateTTL             = 5 * time.Minute

	// cpuCountAttribute, when present on a host's resources as a positive
	// int, overrides num_cpus for that host.
	cpuCountAttribute = "host.cpu.count"
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

	// CriticalPattern is a regular expression (implicitly anchored at both
	// ends) matched against NameAttribute. Matching processes are always kept.
	// Empty means no process is critical.
	CriticalPattern string `mapstructure:"critical_pattern"`
	// NameAttribute is the resource attribute CriticalPattern is matched against.
	NameAttribute string `mapstructure:"name_attribute"`
	// HostAttribute is the resource attribute processes are grouped by.
	// Resources without it form one group. Empty disables per-host grouping.
	HostAttribute string `mapstructure:"host_attribute"`
	// PIDAttribute identifies process resources; resources without it pass through.
	PIDAttribute string `mapstructure:"pid_attribute"`
	// CPUMetric is the cumulative CPU time metric (seconds) used to derive CPU rates.
	CPUMetric string `mapstructure:"cpu_metric"`
	// MemoryMetric is the memory usage metric (bytes).
	MemoryMetric string `mapstructure:"memory_metric"`

	// StaleIntervals is the number of consecutive calls for a host in which a
	// process may be absent before its CPU state is forgotten.
	StaleIntervals int `mapstructure:"stale_intervals"`
	// StateTTL forgets CPU state not updated for this long (wall clock).
	// Zero disables the time based expiry.
	StateTTL time.Duration `mapstructure:"state_ttl"`
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
		NameAttribute:        defaultNameAttribute,
		HostAttribute:        defaultHostAttribute,
		PIDAttribute:         defaultPIDAttribute,
		CPUMetric:            defaultCPUMetric,
		MemoryMetric:         defaultMemoryMetric,
		StaleIntervals:       defaultStaleIntervals,
		StateTTL:             defaultStateTTL,
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
	if _, err := compileCritical(cfg.CriticalPattern); err != nil {
		errs = append(errs, err)
	}
	if cfg.NameAttribute == "" {
		errs = append(errs, errors.New("name_attribute must not be empty"))
	}
	if cfg.PIDAttribute == "" {
		errs = append(errs, errors.New("pid_attribute must not be empty"))
	}
	if cfg.CPUMetric == "" {
		errs = append(errs, errors.New("cpu_metric must not be empty"))
	}
	if cfg.MemoryMetric == "" {
		errs = append(errs, errors.New("memory_metric must not be empty"))
	}
	if cfg.StaleIntervals < 1 {
		errs = append(errs, fmt.Errorf("stale_intervals must be >= 1, got %d", cfg.StaleIntervals))
	}
	if cfg.StateTTL < 0 {
		errs = append(errs, fmt.Errorf("state_ttl must be >= 0, got %s", cfg.StateTTL))
	}
	return errors.Join(errs...)
}

// compileCritical compiles the critical pattern as a full match. An empty
// pattern returns a nil regexp.
func compileCritical(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid critical_pattern %q: %w", pattern, err)
	}
	return re, nil
}
