package member_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

func TestMain(m *testing.M) {
	clustertest.Services = []member.Service{} // membership only
	clustertest.Parallel(6)
	goleak.VerifyTestMain(m, clustertest.LeakOptions()...)
}
