package grid

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/clustertest"
	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// When a healed split's kept side copies a partition over a member that
// owned it while apart, what that member wrote is merged into the owner
// once the table committing the copy arrives (it used to be replaced and
// lost). The copy is imported by hand here; a member joining brings the
// next table.
func TestImportOverAnOwnedPartitionMergesWhatItReplaces(t *testing.T) {
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mp := GetMap[string, string](m, "healed")
	require.NoError(t, mp.Put(ctx, "a", "written apart, later"))

	kb, p, err := mp.encodeKey("a")
	require.NoError(t, err)
	other, err := keys.Encode("b")
	require.NoError(t, err)
	if keys.Partition(other, m.PartitionCount()) != p {
		other = nil // "b" lives elsewhere: the copy holds "a" only
	}
	val := func(s string) []byte {
		b, err := mp.encodeValue(s)
		require.NoError(t, err)
		return b
	}
	copied := partData{Stores: []storeData{{Name: "healed", Entries: []wireRecord{{Key: kb, Val: val("kept side, earlier"), Upd: 1}}}}}
	if other != nil {
		copied.Stores[0].Entries = append(copied.Stores[0].Entries, wireRecord{Key: other, Val: val("kept side only"), Upd: 1})
	}
	data, err := wire.Marshal(&copied)
	require.NoError(t, err)
	require.NoError(t, serviceOf(m).ImportPartition(ctx, p, data))
	got, _, err := mp.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "kept side, earlier", got, "the copy replaced the partition")

	c.Add(func(*member.Config) {})
	c.WaitStable(2)
	require.Eventually(t, func() bool {
		got, _, err := mp.Get(ctx, "a")
		return err == nil && got == "written apart, later"
	}, 30*time.Second, 10*time.Millisecond, "the later write made apart was not merged back")
	if other != nil {
		got, ok, err := mp.Get(ctx, "b")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "kept side only", got)
	}
}
