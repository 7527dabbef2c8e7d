package partition

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func TestWireRoundTrip(t *testing.T) {
	withHoles, err := NewTable(5, [][]string{{"b", "a"}, {}, {"a"}, {"c", "b", "a"}})
	require.NoError(t, err)
	for name, tb := range map[string]*Table{
		"initial":        Initial(DefaultCount, memberNames(7), 2),
		"no partitions":  Initial(0, nil, 1),
		"no members":     Rebalance(Initial(3, []string{"a"}, 0), nil, 1),
		"empty rows":     withHoles,
		"large":          Initial(1024, memberNames(50), 3),
		"version zero":   newTable(0, [][]string{{"x"}}),
		"version max":    Initial(2, []string{"a"}, 0).WithVersion(^uint64(0)),
		"long names":     Initial(4, []string{string(bytes.Repeat([]byte("n"), 300)), "m"}, 1),
		"unicode names":  Initial(4, []string{"мир", "世界", "🙂"}, 2),
		"single member":  Initial(DefaultCount, []string{"solo"}, 3),
		"odd partitions": Initial(1, memberNames(3), 2),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := tb.MarshalBinary()
			require.NoError(t, err)
			var got Table
			require.NoError(t, got.UnmarshalBinary(b))
			require.Equal(t, tb.Version(), got.Version())
			require.True(t, tb.SameAssignment(&got))
			require.Equal(t, tb.Members(), got.Members())
		})
	}
}

// TestWireIsCompact guards the reason for the index form: a default table
// with two backups fits in about a kilobyte.
func TestWireIsCompact(t *testing.T) {
	b, err := Initial(DefaultCount, memberNames(20), 2).MarshalBinary()
	require.NoError(t, err)
	require.Less(t, len(b), 1200)
}

// TestTableInMsgpackMessage shows a *Table travelling as a field of a larger
// message, as members send it.
func TestTableInMsgpackMessage(t *testing.T) {
	type announce struct {
		From  string
		Table *Table
	}
	in := announce{From: "m01", Table: Initial(DefaultCount, memberNames(4), 1)}
	b, err := msgpack.Marshal(&in)
	require.NoError(t, err)
	var out announce
	require.NoError(t, msgpack.Unmarshal(b, &out))
	require.Equal(t, "m01", out.From)
	require.True(t, in.Table.SameAssignment(out.Table))
	require.Equal(t, in.Table.Version(), out.Table.Version())

	// Hostile bytes in the field are refused the same way.
	b[len(b)-1] = 0xc1 // a byte msgpack never uses
	require.Error(t, msgpack.Unmarshal(b, &out))
}

func encode(t *testing.T, write func(e *msgpack.Encoder)) []byte {
	t.Helper()
	var buf bytes.Buffer
	write(msgpack.NewEncoder(&buf))
	return buf.Bytes()
}

func TestUnmarshalRefusesBadInput(t *testing.T) {
	good, err := Initial(4, []string{"a", "b"}, 1).MarshalBinary()
	require.NoError(t, err)

	header := func(e *msgpack.Encoder, names ...string) {
		_ = e.EncodeArrayLen(3)
		_ = e.EncodeUint(1)
		_ = e.EncodeArrayLen(len(names))
		for _, n := range names {
			_ = e.EncodeString(n)
		}
	}
	for name, b := range map[string][]byte{
		"empty":          {},
		"not an array":   encode(t, func(e *msgpack.Encoder) { _ = e.EncodeString("table") }),
		"two fields":     encode(t, func(e *msgpack.Encoder) { _ = e.EncodeArrayLen(2); _ = e.EncodeUint(1); _ = e.EncodeArrayLen(0) }),
		"nil":            {0xc0},
		"bad version":    encode(t, func(e *msgpack.Encoder) { _ = e.EncodeArrayLen(3); _ = e.EncodeString("1") }),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte{}, good...), 0x00),
		"member count beyond input": encode(t, func(e *msgpack.Encoder) {
			_ = e.EncodeArrayLen(3)
			_ = e.EncodeUint(1)
			_ = e.EncodeArrayLen(1 << 30)
		}),
		"name length beyond input": append(encode(t, func(e *msgpack.Encoder) {
			_ = e.EncodeArrayLen(3)
			_ = e.EncodeUint(1)
			_ = e.EncodeArrayLen(1)
		}), 0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'),
		"name too long": encode(t, func(e *msgpack.Encoder) {
			header(e, string(bytes.Repeat([]byte("x"), maxNameLen+1)))
			_ = e.EncodeArrayLen(0)
		}),
		"name not a string": encode(t, func(e *msgpack.Encoder) {
			_ = e.EncodeArrayLen(3)
			_ = e.EncodeUint(1)
			_ = e.EncodeArrayLen(1)
			_ = e.EncodeUint(7)
		}),
		"partition count beyond input": encode(t, func(e *msgpack.Encoder) {
			header(e, "a")
			_ = e.EncodeArrayLen(1 << 30)
		}),
		"row longer than the member list": encode(t, func(e *msgpack.Encoder) {
			header(e, "a")
			_ = e.EncodeArrayLen(1)
			_ = e.EncodeArrayLen(2)
			_ = e.EncodeUint(0)
			_ = e.EncodeUint(0)
		}),
		"index out of range": encode(t, func(e *msgpack.Encoder) {
			header(e, "a", "b")
			_ = e.EncodeArrayLen(1)
			_ = e.EncodeArrayLen(1)
			_ = e.EncodeUint(2)
		}),
		"negative index": encode(t, func(e *msgpack.Encoder) {
			header(e, "a", "b")
			_ = e.EncodeArrayLen(1)
			_ = e.EncodeArrayLen(1)
			_ = e.EncodeInt(-1)
		}),
		"member twice in a row": encode(t, func(e *msgpack.Encoder) {
			header(e, "a", "b")
			_ = e.EncodeArrayLen(1)
			_ = e.EncodeArrayLen(2)
			_ = e.EncodeUint(1)
			_ = e.EncodeUint(1)
		}),
		"same name twice in the list": encode(t, func(e *msgpack.Encoder) {
			header(e, "a", "a")
			_ = e.EncodeArrayLen(1)
			_ = e.EncodeArrayLen(2)
			_ = e.EncodeUint(0)
			_ = e.EncodeUint(1)
		}),
		"empty name": encode(t, func(e *msgpack.Encoder) {
			header(e, "")
			_ = e.EncodeArrayLen(1)
			_ = e.EncodeArrayLen(1)
			_ = e.EncodeUint(0)
		}),
	} {
		t.Run(name, func(t *testing.T) {
			var tb Table
			require.ErrorIs(t, tb.UnmarshalBinary(b), ErrInvalidTable)
		})
	}
}

// FuzzUnmarshalBinary feeds arbitrary bytes to the decoder: it must not panic
// or allocate without bound, and whatever it accepts must be a valid table
// that encodes back to the same assignment.
func FuzzUnmarshalBinary(f *testing.F) {
	for _, tb := range []*Table{
		Initial(0, nil, 0),
		Initial(5, []string{"a", "b", "c"}, 1),
		Initial(DefaultCount, memberNames(5), 2),
	} {
		b, err := tb.MarshalBinary()
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0x93, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var tb Table
		if tb.UnmarshalBinary(b) != nil {
			return
		}
		rows := make([][]string, tb.Count())
		for p := range rows {
			rows[p] = tb.Replicas(p)
		}
		_, err := NewTable(tb.Version(), rows)
		require.NoError(t, err)
		again, err := tb.MarshalBinary()
		require.NoError(t, err)
		var back Table
		require.NoError(t, back.UnmarshalBinary(again))
		require.True(t, tb.SameAssignment(&back))
	})
}
