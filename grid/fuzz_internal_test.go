package grid

import (
	"testing"

	"github.com/weir-dev/weir/internal/testkit/fuzzkit"
	"github.com/weir-dev/weir/internal/testkit/hostile"
	"github.com/weir-dev/weir/internal/wire"
)

// FuzzOwnerRequests decodes every request a member serves for maps, as its
// handlers do: single operations (a hand-written format), batches, backups,
// merges, queries, journal reads, event subscriptions and partition data.
func FuzzOwnerRequests(f *testing.F) {
	op := opRequest{Map: "m", Op: opPut, Part: 3, Key: []byte{0xa1, 'k'}, Value: []byte{0xa1, 'v'}, TTL: 5, Proc: "p", Req: reqID{Client: "c", Seq: 9}}
	batch, _ := wire.Marshal(&batchRequest{Ops: []opRequest{op, op}})
	backup, _ := wire.Marshal(&backupBatch{})
	fuzzkit.Seed(f, appendOp(nil, &op), batch, backup, hostile.AmplifiedBatch(1000), []byte{opFormat, 0xff, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzkit.Decoders(t, in, map[string]func([]byte) error{
			"op": func(b []byte) error {
				var o opRequest
				return parseOp(b, &o)
			},
			"batch":     fuzzkit.Unmarshal[batchRequest](),
			"backup":    fuzzkit.Unmarshal[backupBatch](),
			"merge":     fuzzkit.Unmarshal[mergeMsg](),
			"len":       fuzzkit.Unmarshal[lenRequest](),
			"scan":      fuzzkit.Unmarshal[scanRequest](),
			"clear":     fuzzkit.Unmarshal[clearRequest](),
			"journal":   fuzzkit.Unmarshal[journalRequest](),
			"events":    fuzzkit.Unmarshal[eventsMsg](),
			"subscribe": fuzzkit.Unmarshal[subscribeMsg](),
			"partition": fuzzkit.Unmarshal[partData](),
		})
	})
}
