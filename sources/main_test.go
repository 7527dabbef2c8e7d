package sources_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
)

func TestMain(m *testing.M) {
	clustertest.Services = weir.Services()
	clustertest.Parallel(4)
	goleak.VerifyTestMain(m, clustertest.LeakOptions()...)
}
