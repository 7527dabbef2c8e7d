package member_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

func TestMain(m *testing.M) {
	clustertest.Services = []member.Service{} // membership only
	goleak.VerifyTestMain(m, clustertest.LeakOptions()...)
}
