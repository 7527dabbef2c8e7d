package pipeline_test

import "github.com/weir-dev/weir/internal/testkit/clustertest"

var (
	ctxT   = clustertest.Ctx
	newBag = clustertest.NewBag
	bagFor = clustertest.BagFor
)
