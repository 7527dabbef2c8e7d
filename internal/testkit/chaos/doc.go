// Package chaos holds the tests that kill member processes with SIGKILL
// while a job runs, and check that its output neither misses nor doubles
// anything: three "weir member" processes on loopback (built with the
// weirtest tag, so they run the jobs of internal/testkit/testjobs), and a lite
// member in the test process that feeds the input map, submits the job and
// watches it.
//
// TestKafkaExactlyOnceThroughAKill and TestKafkaAtLeastOnceThroughAKill
// run the Kafka counting job against a Kafka broker (kfake) in the test
// process.
//
// TestSoakKills goes on killing for as long as WEIR_SOAK says (skipped when
// unset; .ci/run sets it).
//
// The package has no code of its own: its tests and benchmarks are in the
// _test files.
package chaos
