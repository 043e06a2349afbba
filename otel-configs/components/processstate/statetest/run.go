package statetest // import "phoenix-harness.dev/otelcol/processstate/statetest"

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// MetricsProcessor is what Run needs of a processstate.Processor.
type MetricsProcessor interface {
	ProcessMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error)
}

// Clocked is what NewProcessor needs of a processstate.Processor.
type Clocked interface {
	MetricsProcessor
	SetClock(now func() time.Time)
}

// Kind is what NewProcessor needs of a processstate.Kind.
type Kind[P Clocked] interface {
	Type() component.Type
	NewProcessor(set processor.Settings, cfg component.Config) (P, error)
}

// NewProcessor applies mutate (when not nil) to cfg, validates it, builds
// the kind's processor and sets its wall clock to a Clock at BaseTime.
func NewProcessor[P Clocked, C component.Config](t testing.TB, kind Kind[P], cfg C, mutate func(C)) (P, *Clock) {
	t.Helper()
	if mutate != nil {
		mutate(cfg)
	}
	if v, ok := any(cfg).(interface{ Validate() error }); ok {
		require.NoError(t, v.Validate())
	}
	p, err := kind.NewProcessor(processortest.NewNopSettings(kind.Type()), cfg)
	require.NoError(t, err)
	clock := &Clock{T: BaseTime}
	p.SetClock(clock.Now)
	return p, clock
}

// ConfigCase is one case of CheckValidate: Mutate changes a default
// configuration, WantErr is part of the expected error ("" when valid).
type ConfigCase[C any] struct {
	Name    string
	Mutate  func(C)
	WantErr string
}

// CheckValidate runs each case as a subtest on a fresh default configuration.
func CheckValidate[C interface{ Validate() error }](t *testing.T, defaults func() C, cases []ConfigCase[C]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cfg := defaults()
			tc.Mutate(cfg)
			err := cfg.Validate()
			if tc.WantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.WantErr)
		})
	}
}

// Run passes md through p and fails the test on any error.
func Run(t testing.TB, p MetricsProcessor, md pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	out, err := p.ProcessMetrics(context.Background(), md)
	require.NoError(t, err)
	return out
}

// ThroughFactory creates a metrics processor from f and cfg, starts it, feeds
// it md, shuts it down and returns what reached the next consumer (nil when
// nothing did).
func ThroughFactory(t testing.TB, f processor.Factory, cfg component.Config, md pmetric.Metrics) *pmetric.Metrics {
	t.Helper()
	ctx := context.Background()
	sink := new(consumertest.MetricsSink)
	p, err := f.CreateMetrics(ctx, processortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.True(t, p.Capabilities().MutatesData)
	require.NoError(t, p.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeMetrics(ctx, md))
	require.NoError(t, p.Shutdown(ctx))
	all := sink.AllMetrics()
	require.LessOrEqual(t, len(all), 1)
	if len(all) == 0 {
		return nil
	}
	return &all[0]
}

// Telemetry returns processor settings for typ whose own metrics can be read
// back with the returned function (the value of an int64 counter).
func Telemetry(t testing.TB, typ component.Type) (processor.Settings, func(name string) int64) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(typ)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	return set, func(name string) int64 {
		t.Helper()
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		sum, ok := m.Data.(metricdata.Sum[int64])
		require.True(t, ok, name)
		require.Len(t, sum.DataPoints, 1, name)
		return sum.DataPoints[0].Value
	}
}
