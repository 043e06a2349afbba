package processstate // import "phoenix-harness.dev/otelcol/processstate"

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

const (
	defaultNameAttribute  = "process.executable.name"
	defaultHostAttribute  = "host.name"
	defaultPIDAttribute   = "process.pid"
	defaultCPUMetric      = "process.cpu.time"
	defaultMemoryMetric   = "process.memory.usage"
	defaultStaleIntervals = 5
	defaultStateTTL       = 5 * time.Minute

	// CPUCountAttribute, when present on a host's resources as a positive
	// int, is that host's number of CPUs (Host.CPUCount).
	CPUCountAttribute = "host.cpu.count"
)

// Config holds the settings every process-selecting processor shares: which
// resources are processes, which of them are critical, how they are grouped
// and how long their CPU state is kept. A processor embeds it with the tag
// `mapstructure:",squash"`, so these keys sit next to its own.
type Config struct {
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

// DefaultConfig returns the shared defaults.
func DefaultConfig() Config {
	return Config{
		NameAttribute:  defaultNameAttribute,
		HostAttribute:  defaultHostAttribute,
		PIDAttribute:   defaultPIDAttribute,
		CPUMetric:      defaultCPUMetric,
		MemoryMetric:   defaultMemoryMetric,
		StaleIntervals: defaultStaleIntervals,
		StateTTL:       defaultStateTTL,
	}
}

// ValidateShared checks the shared settings and returns every problem found.
//
// It is deliberately not named Validate: the collector calls Validate on each
// field of a configuration as well as on the configuration itself, so the
// embedding processor calls ValidateShared from its own Validate and each
// problem is reported once, under the processor's name.
func (cfg *Config) ValidateShared() error {
	var errs []error
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
