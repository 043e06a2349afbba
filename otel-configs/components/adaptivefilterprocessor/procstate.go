package adaptivefilterprocessor // import "phoenix-harness.dev/otelcol/adaptivefilterprocessor"

import (
	"math"
	"regexp"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// processInfo describes one process resource seen in a single call.
type processInfo struct {
	index    int // position in the call's ResourceMetricsSlice
	pid      int64
	critical bool
	memory   float64 // bytes, sum over the memory metric's data points
	cpu      cpuSample
	cpuRate  float64 // cores, filled in by rateTracker.update
}

// cpuSample is the cumulative CPU time of one process in one call.
type cpuSample struct {
	ok    bool
	value float64           // seconds, summed over all data points (all states)
	ts    pcommon.Timestamp // latest data point timestamp
	start pcommon.Timestamp // earliest non-zero start timestamp (process start)
}

// hostGroup holds the process resources of one host in one call.
type hostGroup struct {
	host     string
	cpuCount int64 // from the CPU count resource attribute; 0 when absent
	procs    []*processInfo
}

// extractor reads process identity and metric values from resources.
type extractor struct {
	critical     *regexp.Regexp
	nameAttr     string
	hostAttr     string
	pidAttr      string
	cpuMetric    string
	memoryMetric string
	cpuCountAttr string
}

// collect groups process resources by host, in first-seen order. Resources
// without a usable pid attribute are not returned (they pass through), but a
// CPU count attribute on them still applies to their host.
func (e *extractor) collect(rms pmetric.ResourceMetricsSlice) (groups []*hostGroup, processes int) {
	byHost := map[string]*hostGroup{}
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
		if _, known := cpuCounts[host]; !known && e.cpuCountAttr != "" {
			if v, found := attrs.Get(e.cpuCountAttr); found && v.Type() == pcommon.ValueTypeInt && v.Int() > 0 {
				cpuCounts[host] = v.Int()
			}
		}
		pid, ok := pidOf(attrs, e.pidAttr)
		if !ok {
			continue
		}
		info := &processInfo{index: i, pid: pid}
		if e.critical != nil {
			if v, found := attrs.Get(e.nameAttr); found {
				info.critical = e.critical.MatchString(v.AsString())
			}
		}
		e.readMetrics(rm, info)
		g, found := byHost[host]
		if !found {
			g = &hostGroup{host: host}
			byHost[host] = g
			groups = append(groups, g)
		}
		g.procs = append(g.procs, info)
		processes++
	}
	for _, g := range groups {
		g.cpuCount = cpuCounts[g.host]
	}
	return groups, processes
}

func (e *extractor) readMetrics(rm pmetric.ResourceMetrics, info *processInfo) {
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
					info.memory += finite(numberValue(dps.At(k)))
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

// procKey identifies a process instance; the start timestamp distinguishes
// a reused pid.
type procKey struct {
	pid   int64
	start pcommon.Timestamp
}

type procState struct {
	value      float64
	ts         pcommon.Timestamp
	rate       float64
	generation uint64
	lastSeen   time.Time
}

type hostState struct {
	generation uint64 // number of calls that contained this host
	lastSeen   time.Time
	procs      map[procKey]*procState
}

// rateTracker turns cumulative CPU time into CPU rates (cores). It keeps the
// last value per (host, pid, start timestamp) and forgets entries that were
// absent for staleIntervals calls of their host or not updated within ttl.
type rateTracker struct {
	mu             sync.Mutex
	hosts          map[string]*hostState
	staleIntervals uint64
	ttl            time.Duration
}

func newRateTracker(staleIntervals int, ttl time.Duration) *rateTracker {
	return &rateTracker{
		hosts:          map[string]*hostState{},
		staleIntervals: uint64(staleIntervals),
		ttl:            ttl,
	}
}

// update sets cpuRate on every process of the groups and expires old state.
func (t *rateTracker) update(now time.Time, groups []*hostGroup) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, g := range groups {
		hs, ok := t.hosts[g.host]
		if !ok {
			hs = &hostState{procs: map[procKey]*procState{}}
			t.hosts[g.host] = hs
		}
		hs.generation++
		hs.lastSeen = now
		for _, p := range g.procs {
			if p.cpu.ok {
				p.cpuRate = hs.observe(p.pid, p.cpu, now)
			}
		}
		for k, st := range hs.procs {
			if hs.generation-st.generation >= t.staleIntervals || t.expired(st.lastSeen, now) {
				delete(hs.procs, k)
			}
		}
		if len(hs.procs) == 0 {
			delete(t.hosts, g.host)
		}
	}
	if t.ttl > 0 {
		for h, hs := range t.hosts {
			if t.expired(hs.lastSeen, now) {
				delete(t.hosts, h)
			}
		}
	}
}

func (t *rateTracker) expired(lastSeen, now time.Time) bool {
	return t.ttl > 0 && now.Sub(lastSeen) > t.ttl
}

// entries returns the number of tracked processes.
func (t *rateTracker) entries() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, hs := range t.hosts {
		n += len(hs.procs)
	}
	return n
}

func (hs *hostState) observe(pid int64, s cpuSample, now time.Time) float64 {
	key := procKey{pid: pid, start: s.start}
	st, ok := hs.procs[key]
	if !ok {
		rate := estimateRate(s)
		hs.procs[key] = &procState{value: s.value, ts: s.ts, rate: rate, generation: hs.generation, lastSeen: now}
		return rate
	}
	st.generation = hs.generation
	st.lastSeen = now
	if s.ts <= st.ts {
		// Duplicate or out-of-order sample: keep the last known rate.
		return st.rate
	}
	delta := s.value - st.value
	var rate float64
	if delta < 0 {
		// Counter went backwards without a new start time: rebase.
		rate = estimateRate(s)
	} else {
		rate = finite(delta / seconds(s.ts-st.ts))
	}
	st.value, st.ts, st.rate = s.value, s.ts, rate
	return rate
}

// estimateRate is the average rate since process start, used on first sight.
func estimateRate(s cpuSample) float64 {
	if s.start == 0 || s.start >= s.ts || s.value <= 0 {
		return 0
	}
	return finite(s.value / seconds(s.ts-s.start))
}

func seconds(d pcommon.Timestamp) float64 {
	return float64(d) / float64(time.Second)
}
