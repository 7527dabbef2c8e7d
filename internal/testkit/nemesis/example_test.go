package nemesis_test

import (
	"fmt"
	"time"

	"github.com/weir-dev/weir/internal/testkit/nemesis"
)

// A key put, then deleted with an acknowledgement while a member was
// paused, and found again by the final read: the checker names the key,
// the delete, the fault it fell in, and the put whose value came back.
func ExampleCheckRegisters() {
	s := time.Second
	faults := []nemesis.Window{{Name: "1 pause m2", Start: 1 * s, Healed: 5 * s, Calm: 6 * s, Calmed: true}}
	ops := []nemesis.Op{
		{Client: "w0", Kind: nemesis.Put, Key: "w0-1", Value: 7, Start: 0, End: s / 2, Outcome: nemesis.OK},
		{Client: "w0", Kind: nemesis.Delete, Key: "w0-1", Value: 8, Start: 2 * s, End: 3 * s, Outcome: nemesis.OK},
		{Client: nemesis.FinalClient, Kind: nemesis.Read, Key: "w0-1", Value: 7, Found: true, Start: 9 * s, End: 10 * s, Outcome: nemesis.OK},
	}
	for _, a := range nemesis.CheckRegisters(ops, faults) {
		fmt.Println(a)
	}
	// Output:
	// revived-delete w0-1: acknowledged w0 delete w0-1 [2.00s–3.00s] ok (during 1 pause m2 [1.00s–5.00s, settled 6.00s]) undone: the final read found 7, written by w0 put w0-1 7 [0.00s–0.50s] ok
}
