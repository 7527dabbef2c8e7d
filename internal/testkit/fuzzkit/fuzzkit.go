// Package fuzzkit helps fuzz targets of decoders of network bytes: it adds
// seeds, writes them to the committed corpus (testdata/fuzz/<target>) when
// WEIR_WRITE_FUZZ_CORPUS is set, and checks that decoding an input neither
// panics nor allocates more than a small multiple of its size.
//
// Refresh a package's corpus with
//
//	WEIR_WRITE_FUZZ_CORPUS=1 go test -run '^Fuzz' ./grid/
package fuzzkit

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/weir-dev/weir/internal/wire"
)

// Seed adds each seed to f and, when WEIR_WRITE_FUZZ_CORPUS is set, writes
// it to testdata/fuzz/<f's name>/ in the go test corpus format.
func Seed(f *testing.F, seeds ...[]byte) {
	f.Helper()
	write := os.Getenv("WEIR_WRITE_FUZZ_CORPUS") != ""
	dir := filepath.Join("testdata", "fuzz", f.Name())
	for _, s := range seeds {
		f.Add(s)
		if !write {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.Fatal(err)
		}
		sum := sha256.Sum256(s)
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%x", sum[:8])), []byte(body), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}

// Decoders runs each decoder on in and fails if one panics (the fuzzer
// reports that itself) or if all of them together allocated more than
// wire.DecodeRatio times the input per decoder, plus 1 MiB each.
func Decoders(t *testing.T, in []byte, decoders map[string]func([]byte) error) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, d := range decoders {
		_ = d(in)
	}
	runtime.ReadMemStats(&after)
	n := uint64(len(decoders))
	limit := n * (uint64(wire.DecodeRatio)*uint64(len(in)) + 1<<20)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Fatalf("decoding %d bytes allocated %d bytes (limit %d)", len(in), got, limit)
	}
}

// Unmarshal returns a decoder of bytes into a fresh T with wire.Unmarshal.
func Unmarshal[T any]() func([]byte) error {
	return func(b []byte) error {
		var v T
		return wire.Unmarshal(b, &v)
	}
}
