package harness

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill cmd if this program dies before
// stopping it, so a crashed or interrupted run leaves no redis-server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
