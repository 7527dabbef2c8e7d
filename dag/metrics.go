package dag

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// ProcessorMetrics are the counters of one processor instance.
type ProcessorMetrics struct {
	Member    string `msgpack:"m"`
	Vertex    string `msgpack:"v"`
	Instance  int    `msgpack:"i"` // global index
	ItemsIn   int64  `msgpack:"r"` // items received and processed
	ItemsOut  int64  `msgpack:"o"` // items emitted, all outbound edges
	BatchesIn int64  `msgpack:"b"`
	// Queued is the items waiting in the instance's inbound queues now.
	Queued int64 `msgpack:"q"`
	// Watermark is the instance's last watermark: coalesced from its
	// inputs, or emitted by a source (MinWatermark: none yet).
	Watermark int64 `msgpack:"w,omitempty"`
	// Counters are the processor's own counters (Context.Counter), such as
	// "late" for the late items of a windowed aggregation.
	Counters map[string]int64 `msgpack:"c,omitempty"`
}

type metricsResponse struct {
	Processors []ProcessorMetrics `msgpack:"p"`
}

func (ex *execution) metrics() []ProcessorMetrics {
	out := make([]ProcessorMetrics, 0, len(ex.tasklets))
	for _, t := range ex.tasklets {
		pm := ProcessorMetrics{Member: ex.m.ID(), Vertex: t.ctx.Vertex, Instance: t.ctx.GlobalIndex,
			ItemsIn: t.itemsIn.Load(), BatchesIn: t.batchesIn.Load(), Watermark: t.wmPublished.Load()}
		for _, o := range t.outs {
			pm.ItemsOut += o.emitted()
		}
		for _, in := range t.ins {
			for _, q := range in.queues {
				pm.Queued += q.items.Load()
			}
		}
		t.ctx.counters.Range(func(k, v any) bool {
			if pm.Counters == nil {
				pm.Counters = map[string]int64{}
			}
			pm.Counters[k.(string)] = v.(*atomic.Int64).Load()
			return true
		})
		out = append(out, pm)
	}
	return out
}

func (s *service) handleMetrics(_ context.Context, req *member.Request) ([]byte, error) {
	var ref jobRef
	if err := wire.Unmarshal(req.Payload, &ref); err != nil {
		return nil, err
	}
	var resp metricsResponse
	if ex, ok := s.execution(jobRef{JobID: ref.JobID}); ok {
		resp.Processors = ex.metrics()
	}
	return wire.Marshal(&resp)
}

// Metrics returns the counters of the job's processors on every member
// running it now (none once it has ended).
func (j *Job) Metrics(ctx context.Context) ([]ProcessorMetrics, error) {
	info, err := j.Info(ctx)
	if err != nil {
		return nil, err
	}
	b, err := wire.Marshal(&jobRef{JobID: j.ID})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var out []ProcessorMetrics
	var errs []error
	var wg sync.WaitGroup
	for _, id := range info.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := j.s.m.Call(ctx, id, routeMetrics, b)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			var resp metricsResponse
			if err := wire.Unmarshal(raw, &resp); err != nil {
				errs = append(errs, err)
				return
			}
			out = append(out, resp.Processors...)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
