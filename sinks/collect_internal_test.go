package sinks

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The collector's side of two-phase commit, across executions of a job: a
// restore commits what its snapshot names, drops the rest of the earlier
// executions, and ignores what they send afterwards.
func TestCollectorSettlesExecutions(t *testing.T) {
	t.Parallel()
	c, err := NewCollector[int](t.Name())
	require.NoError(t, err)
	defer c.Close()
	txn := func(exec uint64, index int, snap uint64) collectTxn {
		return collectTxn{Job: "j", Exec: exec, Index: index, Snap: snap}
	}

	// Execution 1: snapshot 1 committed; 2 prepared on both instances and
	// complete, but only instance 0 heard so; 3 prepared, never complete.
	c.settle("j", 1, nil)
	require.NoError(t, c.prepare(txn(1, 0, 1), []int{1}))
	require.NoError(t, c.prepare(txn(1, 1, 1), []int{2}))
	require.NoError(t, c.commit([]collectTxn{txn(1, 0, 1), txn(1, 1, 1)}))
	require.NoError(t, c.prepare(txn(1, 0, 2), []int{3}))
	require.NoError(t, c.prepare(txn(1, 1, 2), []int{4}))
	require.NoError(t, c.commit([]collectTxn{txn(1, 0, 2)}))
	require.NoError(t, c.prepare(txn(1, 0, 3), []int{5}))
	require.ElementsMatch(t, []int{1, 2, 3}, c.Items())

	// Execution 2 restores snapshot 2, whose entries name what was pending
	// then (instance 1's, and instance 0's, committed since).
	c.settle("j", 2, []collectTxn{txn(1, 0, 2), txn(1, 1, 2)})
	require.ElementsMatch(t, []int{1, 2, 3, 4}, c.Items(), "what snapshot 2 covers, once")
	c.settle("j", 2, []collectTxn{txn(1, 0, 2), txn(1, 1, 2)}) // its other instances
	require.NoError(t, c.commit([]collectTxn{txn(1, 0, 3)}), "a late word from execution 1")
	require.NoError(t, c.prepare(txn(1, 1, 3), []int{6}))
	require.NoError(t, c.commit([]collectTxn{txn(1, 1, 3)}))
	require.ElementsMatch(t, []int{1, 2, 3, 4}, c.Items(), "execution 1 is over")

	// Execution 3 starts from the beginning: execution 2's pending goes.
	require.NoError(t, c.prepare(txn(2, 0, 3), []int{7}))
	c.settle("j", 3, nil)
	require.NoError(t, c.commit([]collectTxn{txn(2, 0, 3)}))
	require.ElementsMatch(t, []int{1, 2, 3, 4}, c.Items())
	require.Empty(t, c.jobs["j"].pending)

	// Another job is separate; a closed collector refuses.
	c.settle("k", 1, nil)
	require.NoError(t, c.prepare(collectTxn{Job: "k", Exec: 1, Snap: 1}, []int{8}))
	require.NoError(t, c.commit([]collectTxn{{Job: "k", Exec: 1, Snap: 1}}))
	require.ElementsMatch(t, []int{1, 2, 3, 4, 8}, c.Items())
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.write([]int{9}), ErrCollectorClosed)
}
