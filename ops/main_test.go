package ops_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/ops"
)

func TestMain(m *testing.M) {
	clustertest.Services = append(weir.Services(), ops.Service())
	goleak.VerifyTestMain(m, append(clustertest.LeakOptions(),
		// The browser test's and Prometheus's processes end with the test;
		// chromedp's readers of them may outlive it by a moment.
		goleak.IgnoreTopFunction("os/exec.(*Cmd).Wait"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)...)
}
