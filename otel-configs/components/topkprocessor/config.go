package topkprocessor // import "phoenix-harness.dev/otelcol/topkprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

const (
	// MetricCPU ranks processes by CPU rate (cores).
	MetricCPU = "cpu"
	// MetricMemory ranks processes by memory usage (bytes).
	MetricMemory = "memory"

	defaultK              = 10
	defaultNameAttribute  = "process.executable.name"
	defaultHostAttribute  = "host.name"
	defaultPIDAttribute   = "process.pid"
	defaultCPUMetric      = "process.cpu.time"
	defaultMemoryMetric   = "process.memory.usage"
	defaultStaleIntervals = 5
	defaultStateTTL       = 5 * time.Minute
)

// Config defines the configuration of the topk processor.
type Config struct {
	// K is the number of non-critical processes kept per host and call.
	K int `mapstructure:"k"`
	// Metric selects the primary ranking key: "cpu" or "memory".
	Metric string `mapstructure:"metric"`

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

func createDefaultConfig() *Config {
	return &Config{
		K:              defaultK,
		Metric:         MetricCPU,
		NameAttribute:  defaultNameAttribute,
		HostAttribute:  defaultHostAttribute,
		PIDAttribute:   defaultPIDAttribute,
		CPUMetric:      defaultCPUMetric,
		MemoryMetric:   defaultMemoryMetric,
		StaleIntervals: defaultStaleIntervals,
		StateTTL:       defaultStateTTL,
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
