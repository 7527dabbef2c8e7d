package chaos

import (
	"os"
	"testing"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
)

// The chaos tests run member processes and mostly wait on them: four at a
// time.
func TestMain(m *testing.M) {
	clustertest.Parallel(4)
	os.Exit(m.Run())
}
