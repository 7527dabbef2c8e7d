package weir_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// layers ranks the module's packages from the bottom: a package imports
// only packages of lower rank. The top rank (programs, the CLI and the test
// harnesses) may also import each other. A new package must be placed here,
// so that its place among the layers is a decision, not an accident.
//
// Each entry is a layer: import paths below the module, where a trailing
// "/..." matches a tree and "" is the root package.
var layers = [][]string{
	{"partition", "internal/wire", "internal/run"}, // pure, and the lowest helpers
	{"internal/keys"},    // key encoding and its partition
	{"internal/codec"},   // typed msgpack codecs
	{"internal/timed"},   // timestamped items and their edge codec
	{"member"},           // membership, transport, partition tables
	{"grid"},             // distributed maps
	{"snapshot"},         // barrier state machine, snapshot storage
	{"dag"},              // DAG model, processors, engine
	{"pipeline"},         // the typed stage API
	{"sources", "sinks"}, // connectors
	{"resp", "ops"},      // endpoints: the Redis protocol; HTTP metrics, health, API, console
	{""},                 // weir: composes a member
	{"cli", "cmd/...", "examples/...", "internal/testkit/..."},
}

const module = "github.com/weir-dev/weir"

func rankOf(pkg string) (int, bool) {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	for rank, l := range layers {
		for _, p := range l {
			tree, isTree := strings.CutSuffix(p, "/...")
			if rel == p || isTree && (rel == tree || strings.HasPrefix(rel, tree+"/")) {
				return rank, true
			}
		}
	}
	return 0, false
}

// The folder tree shows the layers: by the imports go list reports, no
// package imports one above it or beside it, and the test harnesses sit
// apart from the low-level internals.
func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	require.NoError(t, err, "go list: %s", stderrOf(err))
	top := len(layers) - 1
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg, imports := fields[0], fields[1:]
		rank, ok := rankOf(pkg)
		if !ok {
			t.Errorf("package %s has no layer: place it in layers", pkg)
			continue
		}
		n++
		for _, imp := range imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			irank, ok := rankOf(imp)
			if ok && (irank > rank || irank == rank && rank != top) {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports point down only", pkg, rank, imp, irank)
			}
		}
	}
	require.Greater(t, n, 20, "go list found too few packages")
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
