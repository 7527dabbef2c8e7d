package dag

import (
	"testing"

	"github.com/weir-dev/weir/internal/testkit/fuzzkit"
	"github.com/weir-dev/weir/internal/testkit/hostile"
	"github.com/weir-dev/weir/internal/wire"
)

// FuzzJobRequests decodes every request a member serves for jobs, as its
// handlers do: submissions, plans, controls, job references, snapshot
// rounds and acknowledgements, finished reports and edge stream hellos.
func FuzzJobRequests(f *testing.F) {
	ref, _ := wire.Marshal(&jobRef{})
	sub, _ := wire.Marshal(&submitMsg{})
	pl, _ := wire.Marshal(&plan{})
	fuzzkit.Seed(f, ref, sub, pl, hostile.AmplifiedBatch(1000), []byte{0x81, 0xa1, 'v', 0xdc, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzkit.Decoders(t, in, map[string]func([]byte) error{
			"submit":   fuzzkit.Unmarshal[submitMsg](),
			"plan":     fuzzkit.Unmarshal[plan](),
			"control":  fuzzkit.Unmarshal[controlMsg](),
			"ref":      fuzzkit.Unmarshal[jobRef](),
			"finished": fuzzkit.Unmarshal[finishedMsg](),
			"round":    fuzzkit.Unmarshal[roundMsg](),
			"ack":      fuzzkit.Unmarshal[ackMsg](),
			"hello":    fuzzkit.Unmarshal[edgeHello](),
		})
	})
}
