package processstate // import "phoenix-harness.dev/otelcol/processstate"

import (
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// procKey identifies a process instance on a host; the start timestamp
// distinguishes a reused pid.
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

// update sets CPURate on every process of the hosts and expires old state.
func (t *rateTracker) update(now time.Time, hosts []*Host) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range hosts {
		hs, ok := t.hosts[h.Name]
		if !ok {
			hs = &hostState{procs: map[procKey]*procState{}}
			t.hosts[h.Name] = hs
		}
		hs.generation++
		hs.lastSeen = now
		for _, p := range h.Procs {
			if p.cpu.ok {
				p.CPURate = hs.observe(p.PID, p.cpu, now)
			}
		}
		for k, st := range hs.procs {
			if hs.generation-st.generation >= t.staleIntervals || t.expired(st.lastSeen, now) {
				delete(hs.procs, k)
			}
		}
		if len(hs.procs) == 0 {
			delete(t.hosts, h.Name)
		}
	}
	if t.ttl > 0 {
		for name, hs := range t.hosts {
			if t.expired(hs.lastSeen, now) {
				delete(t.hosts, name)
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
