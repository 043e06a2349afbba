package processstate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"

	"phoenix-harness.dev/otelcol/processstate/statetest"
)

// testConfig is a processor configuration that embeds the shared one, the
// way the processors do.
type testConfig struct {
	Config  `mapstructure:",squash"`
	MinRate float64 `mapstructure:"min_rate"`
}

func (c *testConfig) Validate() error {
	var errs []error
	if c.MinRate < 0 {
		errs = append(errs, fmt.Errorf("min_rate must be >= 0, got %v", c.MinRate))
	}
	return errors.Join(append(errs, c.ValidateShared())...)
}

func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, cfg.ValidateShared())
	assert.Empty(t, cfg.CriticalPattern)
	assert.Equal(t, "process.executable.name", cfg.NameAttribute)
	assert.Equal(t, "host.name", cfg.HostAttribute)
	assert.Equal(t, "process.pid", cfg.PIDAttribute)
	assert.Equal(t, "process.cpu.time", cfg.CPUMetric)
	assert.Equal(t, "process.memory.usage", cfg.MemoryMetric)
	assert.Equal(t, 5, cfg.StaleIntervals)
	assert.Equal(t, 5*time.Minute, cfg.StateTTL)
}

func TestValidateShared(t *testing.T) {
	statetest.CheckValidate(t, newTestConfig, []statetest.ConfigCase[*testConfig]{
		{Name: "valid critical pattern", Mutate: func(c *testConfig) { c.CriticalPattern = "otelcol.*|sshd" }},
		{Name: "no host grouping", Mutate: func(c *testConfig) { c.HostAttribute = "" }},
		{Name: "ttl disabled", Mutate: func(c *testConfig) { c.StateTTL = 0 }},
		{Name: "bad regex", Mutate: func(c *testConfig) { c.CriticalPattern = "([a-z" }, WantErr: "invalid critical_pattern"},
		{Name: "empty name attribute", Mutate: func(c *testConfig) { c.NameAttribute = "" }, WantErr: "name_attribute"},
		{Name: "empty pid attribute", Mutate: func(c *testConfig) { c.PIDAttribute = "" }, WantErr: "pid_attribute"},
		{Name: "empty cpu metric", Mutate: func(c *testConfig) { c.CPUMetric = "" }, WantErr: "cpu_metric"},
		{Name: "empty memory metric", Mutate: func(c *testConfig) { c.MemoryMetric = "" }, WantErr: "memory_metric"},
		{Name: "stale intervals zero", Mutate: func(c *testConfig) { c.StaleIntervals = 0 }, WantErr: "stale_intervals must be >= 1"},
		{Name: "negative ttl", Mutate: func(c *testConfig) { c.StateTTL = -time.Second }, WantErr: "state_ttl must be >= 0"},
		{Name: "negative min_rate (the embedding type's own rule)", Mutate: func(c *testConfig) { c.MinRate = -1 }, WantErr: "min_rate"},
	})
}

func TestValidateSharedReportsAllErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PIDAttribute = ""
	cfg.StaleIntervals = 0
	cfg.StateTTL = -time.Second
	err := cfg.ValidateShared()
	require.Error(t, err)
	assert.Len(t, strings.Split(err.Error(), "\n"), 3)
}

func TestCriticalPatternIsAFullMatch(t *testing.T) {
	re, err := compileCritical("post|nginx-[0-9]+")
	require.NoError(t, err)
	assert.True(t, re.MatchString("post"))
	assert.True(t, re.MatchString("nginx-12"))
	assert.False(t, re.MatchString("postgres"), "anchored at the end")
	assert.False(t, re.MatchString("xpost"), "anchored at the start")
	assert.False(t, re.MatchString("nginx-12a"), "alternatives are anchored as a group")

	none, err := compileCritical("")
	require.NoError(t, err)
	assert.Nil(t, none)
}

func TestEmbeddedConfigUnmarshal(t *testing.T) {
	conf := confmap.NewFromStringMap(map[string]any{
		"min_rate":         0.5,
		"critical_pattern": "otelcol-.*",
		"host_attribute":   "host.id",
		"stale_intervals":  3,
		"state_ttl":        "2m",
	})
	cfg := &testConfig{Config: DefaultConfig()}
	require.NoError(t, conf.Unmarshal(cfg))
	require.NoError(t, cfg.Validate())
	assert.InDelta(t, 0.5, cfg.MinRate, 0)
	assert.Equal(t, "otelcol-.*", cfg.CriticalPattern)
	assert.Equal(t, "host.id", cfg.HostAttribute)
	assert.Equal(t, 3, cfg.StaleIntervals)
	assert.Equal(t, 2*time.Minute, cfg.StateTTL)
	assert.Equal(t, "process.pid", cfg.PIDAttribute, "keys not given keep their defaults")
	require.NoError(t, componenttest.CheckConfigStruct(cfg))

	unknown := confmap.NewFromStringMap(map[string]any{"stale_interval": 3})
	require.Error(t, unknown.Unmarshal(&testConfig{Config: DefaultConfig()}))
}

// The collector validates a configuration and each of its fields. A shared
// problem must be reported once, with no path element for the embedding.
func TestCollectorValidationReportsSharedErrorsOnce(t *testing.T) {
	cfg := &testConfig{Config: DefaultConfig(), MinRate: -1}
	cfg.PIDAttribute = ""
	err := confmap.Validate(cfg)
	require.Error(t, err)
	msg := err.Error()
	assert.Equal(t, 1, strings.Count(msg, "pid_attribute must not be empty"), msg)
	assert.Equal(t, 1, strings.Count(msg, "min_rate must be >= 0"), msg)
	assert.NotContains(t, msg, "config:", msg)
}
