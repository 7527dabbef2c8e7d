package dag

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// Job IDs made in a row sort in the order they were made, even within one
// millisecond (the list sink reads jobs in ID order).
func TestJobIDsSortBySubmission(t *testing.T) {
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = newJobID()
	}
	require.True(t, slices.IsSorted(ids))
	require.Len(t, slices.Compact(slices.Clone(ids)), len(ids))
}

// A stream the receiving member closed without a reason, or a sending
// member ended early, is a change of the cluster: the job restarts rather
// than fails.
func TestStoppedPeerIsAClusterChange(t *testing.T) {
	require.True(t, transient(peerStopped(fmt.Errorf("send: %w", member.ErrStreamClosed))))
	other := errors.New("processor failed")
	require.Equal(t, other, peerStopped(other))
	require.False(t, transient(peerStopped(other)))
}

// A member cut off from the quorum refuses to set up an execution, with an
// error that makes the coordinator restart the job later rather than fail
// it.
func TestMemberWithoutQuorumTakesNoPartInAnExecution(t *testing.T) {
	net := clustertest.NewNetwork()
	cfg := clustertest.Config(t)
	cfg.Faults = net
	cfg.MinClusterSize = 2
	c := clustertest.Start(t, 3, cfg)
	ms := c.Members()
	net.Split(ms[:2], ms[2:])
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return !ms[2].HasQuorum() }))
	payload, err := wire.Marshal(&plan{JobID: "j", Name: "not-registered"})
	require.NoError(t, err)
	_, err = serviceOf(ms[2]).handleInit(context.Background(), &member.Request{Payload: payload})
	require.ErrorIs(t, err, errClusterChanged)
	require.True(t, transient(err))
	net.Heal()
	c.WaitStable(3)
}
