//go:build weirtest

package main

// Built with -tags weirtest (as internal/testkit/proctest builds it), the binary
// runs the jobs the process tests submit.
import _ "github.com/weir-dev/weir/internal/testkit/testjobs"
