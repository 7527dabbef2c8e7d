// Package cli is the member command of the weir binary, for service
// binaries to offer as well: a binary that registers its own jobs and
// calls RunMember from its main runs standalone members that can run those
// jobs (Go cannot ship code to a cluster: every member links the jobs it
// runs).
//
//	func main() {
//		if len(os.Args) > 1 && os.Args[1] == "member" {
//			os.Exit(cli.RunMember("myservice member", os.Args[2:], os.Stdout, os.Stderr))
//		}
//		// ... the service itself
//	}
package cli
