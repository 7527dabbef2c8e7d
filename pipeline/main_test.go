package pipeline_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
)

func TestMain(m *testing.M) {
	clustertest.Services = weir.Services()
	goleak.VerifyTestMain(m, clustertest.LeakOptions()...)
}
