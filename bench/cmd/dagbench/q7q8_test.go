package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/bench/internal/harness"
)

// TestQ7Q8MatchPlainGo runs Q7 and Q8 on small inputs on one member and on
// two, and compares their outputs with the plain-Go references, which the
// benchmark times them against.
func TestQ7Q8MatchPlainGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 300_000 // 3 simulated seconds: 3 windows of each query
	want7 := q7Plain(n, q5Base, q5SimRate, q7Window)
	want8 := q8Plain(n, q5Base, q8Window)
	require.Len(t, want7, 3)
	require.NotEmpty(t, want8)
	people, _ := q8Split(n)
	require.Less(t, len(want8), int(people), "some people open no auction in the window they joined")
	for _, members := range []int{1, 2} {
		c, err := harness.StartCluster(ctx, harness.ClusterConfig{Name: "q78-test", Data: members, Logger: harness.Logger()})
		require.NoError(t, err)
		got7, _, err := runQ7(ctx, c, n, 0)
		require.NoError(t, err)
		require.Equal(t, want7, got7, "Q7 on %d members", members)
		got8, _, err := runQ8(ctx, c, n, 0)
		require.NoError(t, err)
		require.Equal(t, want8, got8, "Q8 on %d members", members)
		c.Stop()
	}
}
