package cli

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/ops"
)

func TestMain(m *testing.M) {
	clustertest.Services = append(weir.Services(), ops.Service())
	goleak.VerifyTestMain(m, clustertest.LeakOptions()...)
}
