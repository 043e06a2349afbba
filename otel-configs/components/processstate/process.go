package processstate // import "phoenix-harness.dev/otelcol/processstate"

import (
	"math"
	"regexp"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Process describes one process resource seen in a single call.
type Process struct {
	// Index is the resource's position in the call's ResourceMetricsSlice.
	Index int
	PID   int64
	// Critical is set when the process name matches the critical pattern.
	Critical bool
	// Memory is in bytes, the sum over the memory metric's data points.
	Memory float64
	// CPURate is in cores, derived from the cumulative CPU time (see rates.go).
	CPURate float64

	cpu cpuSample
}

// cpuSample is the cumulative CPU time of one process in one call.
type cpuSample struct {
	ok    bool
	value float64           // seconds, summed over all data points (all states)
	ts    pcommon.Timestamp // latest data point timestamp
	start pcommon.Timestamp // earliest non-zero start timestamp (process start)
}

// Host holds the process resources of one host in one call.
type Host struct {
	Name string
	// CPUCount is the host's CPUCountAttribute; 0 when absent.
	CPUCount int64
	Procs    []*Process
}

// extractor reads process identity and metric values from resources.
type extractor struct {
	critical     *regexp.Regexp
	nameAttr     string
	hostAttr     string
	pidAttr      string
	cpuMetric    string
	memoryMetric string
}

func newExtractor(cfg *Config) (extractor, error) {
	critical, err := compileCritical(cfg.CriticalPattern)
	if err != nil {
		return extractor{}, err
	}
	return extractor{
		critical:     critical,
		nameAttr:     cfg.NameAttribute,
		hostAttr:     cfg.HostAttribute,
		pidAttr:      cfg.PIDAttribute,
		cpuMetric:    cfg.CPUMetric,
		memoryMetric: cfg.MemoryMetric,
	}, nil
}

// collect groups process resources by host, in first-seen order. Resources
// without a usable pid attribute are not returned (they pass through), but a
// CPU count attribute on them still applies to their host.
func (e *extractor) collect(rms pmetric.ResourceMetricsSlice) (hosts []*Host, processes int) {
	byHost := map[string]*Host{}
	cpuCounts := map[string]int64{}
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		attrs := rm.Resource().Attributes()
		host := ""
		if e.hostAttr != "" {
			if v, found := attrs.Get(e.hostAttr); found {
				host = v.AsString()
			}
		}
		if _, known := cpuCounts[host]; !known {
			if v, found := attrs.Get(CPUCountAttribute); found && v.Type() == pcommon.ValueTypeInt && v.Int() > 0 {
				cpuCounts[host] = v.Int()
			}
		}
		pid, ok := pidOf(attrs, e.pidAttr)
		if !ok {
			continue
		}
		info := &Process{Index: i, PID: pid}
		if e.critical != nil {
			if v, found := attrs.Get(e.nameAttr); found {
				info.Critical = e.critical.MatchString(v.AsString())
			}
		}
		e.readMetrics(rm, info)
		h, found := byHost[host]
		if !found {
			h = &Host{Name: host}
			byHost[host] = h
			hosts = append(hosts, h)
		}
		h.Procs = append(h.Procs, info)
		processes++
	}
	for _, h := range hosts {
		h.CPUCount = cpuCounts[h.Name]
	}
	return hosts, processes
}

func (e *extractor) readMetrics(rm pmetric.ResourceMetrics, info *Process) {
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			switch m.Name() {
			case e.cpuMetric:
				dps := numberDataPoints(m)
				for k := 0; k < dps.Len(); k++ {
					dp := dps.At(k)
					info.cpu.ok = true
					info.cpu.value += finite(numberValue(dp))
					if dp.Timestamp() > info.cpu.ts {
						info.cpu.ts = dp.Timestamp()
					}
					if st := dp.StartTimestamp(); st != 0 && (info.cpu.start == 0 || st < info.cpu.start) {
						info.cpu.start = st
					}
				}
			case e.memoryMetric:
				dps := numberDataPoints(m)
				for k := 0; k < dps.Len(); k++ {
					info.Memory += finite(numberValue(dps.At(k)))
				}
			}
		}
	}
}

func numberDataPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints()
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints()
	default:
		return pmetric.NewNumberDataPointSlice()
	}
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	switch dp.ValueType() {
	case pmetric.NumberDataPointValueTypeInt:
		return float64(dp.IntValue())
	case pmetric.NumberDataPointValueTypeDouble:
		return dp.DoubleValue()
	default:
		return 0
	}
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func pidOf(attrs pcommon.Map, key string) (int64, bool) {
	v, ok := attrs.Get(key)
	if !ok {
		return 0, false
	}
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		return int64(v.Double()), true
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(v.Str(), 10, 64)
		return n, err == nil
	default:
		return 0, false
	}
}
