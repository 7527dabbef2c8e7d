package nemesis_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/nemesis"
)

const s = time.Second

func op(client string, kind nemesis.Kind, key string, v int64, start, end time.Duration, out nemesis.Outcome) nemesis.Op {
	return nemesis.Op{Client: client, Kind: kind, Key: key, Value: v, Found: kind == nemesis.Read && v != 0, Start: start, End: end, Outcome: out}
}

func final(key string, v int64) nemesis.Op {
	return op(nemesis.FinalClient, nemesis.Read, key, v, 100*s, 101*s, nemesis.OK)
}

func checks(as []nemesis.Anomaly) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Check+" "+a.Key)
	}
	return out
}

func TestCheckRegisters(t *testing.T) {
	ok, unknown := nemesis.OK, nemesis.Unknown
	put, del := nemesis.Put, nemesis.Delete
	ops := []nemesis.Op{
		// kept: put, put, delete acknowledged; absent at the end
		op("w", put, "kept", 1, 0, s, ok), op("w", put, "kept", 2, s, 2*s, ok), op("w", del, "kept", 0, 2*s, 3*s, ok), final("kept", 0),
		// revived: the delete acknowledged, the first value back
		op("w", put, "revived", 3, 0, s, ok), op("w", del, "revived", 0, s, 2*s, ok), final("revived", 3),
		// lost: the last put acknowledged, the key absent
		op("w", put, "lost", 4, 0, s, ok), final("lost", 0),
		// older: the last put acknowledged, an older value found
		op("w", put, "older", 5, 0, s, ok), op("w", put, "older", 6, s, 2*s, ok), final("older", 5),
		// late: a put of unknown outcome before the acknowledged delete may
		// still land after it
		op("w", put, "late", 7, 0, s, unknown), op("w", del, "late", 0, s, 2*s, ok), final("late", 7),
		// never acknowledged: absent is fine
		op("w", put, "never", 8, 0, s, unknown), final("never", 0),
		// phantom: a value nobody wrote
		op("w", put, "phantom", 9, 0, s, ok), final("phantom", 99),
		// unread: no final read succeeded
		op("w", put, "unread", 10, 0, s, ok),
	}
	require.Equal(t, []string{"lost-put lost", "lost-put older", "phantom phantom", "revived-delete revived", "unread unread"},
		checks(nemesis.CheckRegisters(ops, nil)))
}

func TestCheckCounters(t *testing.T) {
	add := func(key string, out nemesis.Outcome) nemesis.Op { return op("a", nemesis.Add, key, 1, 0, s, out) }
	ops := []nemesis.Op{
		add("exact", nemesis.OK), add("exact", nemesis.OK), final("exact", 2),
		add("ranged", nemesis.OK), add("ranged", nemesis.Unknown), final("ranged", 2),
		add("lost", nemesis.OK), add("lost", nemesis.OK), final("lost", 1),
		add("doubled", nemesis.OK), add("doubled", nemesis.Unknown), final("doubled", 3),
	}
	require.Equal(t, []string{"counter doubled", "counter lost"}, checks(nemesis.CheckCounters(ops, nil)))
}

func TestCheckMinority(t *testing.T) {
	refused := op(nemesis.HelperClient, nemesis.Put, "m-1", -1, 0, s, nemesis.Unknown)
	refused.NoQuorum = true
	acked := op(nemesis.HelperClient, nemesis.Put, "m-2", -2, 0, s, nemesis.OK)
	acked.NoQuorum = true
	before := op(nemesis.HelperClient, nemesis.Put, "m-3", -3, 0, s, nemesis.OK)
	require.Equal(t, []string{"minority-write m-2"}, checks(nemesis.CheckMinority([]nemesis.Op{refused, acked, before}, nil)))
}

// A stale read outside any fault is reported as not linearizable; the same
// during a fault only as informational.
func TestCheckLinearizable(t *testing.T) {
	ok := nemesis.OK
	history := func(key string, at time.Duration) []nemesis.Op {
		return []nemesis.Op{
			op("w", nemesis.Put, key, 1, at, at+s, ok),
			op("w", nemesis.Put, key, 2, at+2*s, at+3*s, ok),
			op("r", nemesis.Read, key, 1, at+4*s, at+5*s, ok), // stale: 2 was acknowledged before
		}
	}
	faults := []nemesis.Window{{Name: "1 pause m1", Start: 20 * s, Healed: 25 * s, Calm: 26 * s}}
	ops := append(history("calm", 0), history("faulted", 19*s)...)
	ops = append(ops, op("w", nemesis.Put, "fine", 5, 0, s, ok), op("r", nemesis.Read, "fine", 5, 2*s, 3*s, ok))
	res := nemesis.CheckLinearizable(ops, faults, t.TempDir())
	require.Equal(t, 3, res.Keys)
	require.Equal(t, []string{"calm"}, res.IllegalCalm)
	require.Equal(t, []string{"faulted"}, res.IllegalFaulted)
	require.FileExists(t, res.Visualization)
}
