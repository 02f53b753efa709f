package web_test

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/web"
)

// heapPeak samples the heap while it runs, for a benchmark to report the
// most it held (HeapInuse), which no counter of the runtime keeps.
type heapPeak struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func watchHeap() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		var m runtime.MemStats
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			h.peak = max(h.peak, m.HeapInuse)
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// Stop ends the sampling and returns the peak in MiB.
func (h *heapPeak) Stop() float64 {
	close(h.stop)
	h.done.Wait()
	return float64(h.peak) / (1 << 20)
}

// BenchmarkAPI_ImportMemory posts an import through the HTTP API, server and
// client in this process, and reports the peak of the heap during it
// (peak-heap-MiB, which includes the test's own few MiB) and what it
// allocated in all (alloc-MiB/op): Invalid is 50 MB of rejected rows,
// Valid as many new subscribers as one import reads. Run it with
//
//	go test -run '^$' -bench ImportMemory -benchtime 1x ./web/
func BenchmarkAPI_ImportMemory(b *testing.B) {
	for _, bc := range []struct {
		name string
		body func() *csvRows
	}{
		{"Invalid50MB", func() *csvRows { return invalidRows(50 << 20) }},
		{"Valid", func() *csvRows {
			return &csvRows{header: "email,name,timezone,tags\n", size: 14 << 20, row: func(i int) string {
				return fmt.Sprintf("reader%d@example%d.com,Reader %d,Europe/Berlin,cohort-%d\n", i, i%100, i, i%10)
			}}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var peak, alloc float64
			for range b.N {
				b.StopTimer()
				e := MustStart(b, web.DefaultLimits)
				body := bc.body()
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				h := watchHeap()
				b.StartTimer()
				code, out := e.importStream("?list=weekly", body)
				b.StopTimer()
				peak = max(peak, h.Stop())
				runtime.ReadMemStats(&m1)
				alloc += float64(m1.TotalAlloc-m0.TotalAlloc) / (1 << 20)
				if code != http.StatusOK {
					b.Fatalf("got %d %.300s", code, out)
				}
				if bc.name == "Valid" {
					var n int
					e.db.Get(&n, `SELECT count(*) FROM subscribers`)
					if n != subscribers.MaxImportRows {
						b.Fatalf("%d subscribers imported", n)
					}
				}
			}
			b.ReportMetric(peak, "peak-heap-MiB")
			b.ReportMetric(alloc/float64(b.N), "alloc-MiB/op")
		})
	}
}
