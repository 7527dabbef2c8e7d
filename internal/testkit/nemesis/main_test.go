package nemesis_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/nemesis"
)

func TestMain(m *testing.M) {
	// The helper client of a minority side is this binary, started again.
	if code, ok := nemesis.HelperMain(); ok {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m, append(clustertest.LeakOptions(),
		// The reader of a killed process's output ends with the process.
		goleak.IgnoreTopFunction("os/exec.(*Cmd).Wait"))...)
}
