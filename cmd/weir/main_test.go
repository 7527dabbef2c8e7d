package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(clustertest.LeakOptions(),
		// The reader of a killed process's output ends with the process.
		goleak.IgnoreTopFunction("os/exec.(*Cmd).Wait"))...)
}
