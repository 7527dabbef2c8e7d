package ops_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
)

// chromium finds Debian's chromium, or skips the test.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: apt-get install -y chromium (.ci/run does) to run the browser test")
	return ""
}

// The console in a real browser, against a 3-member cluster running a job:
// it shows the members, the job and its DAG, and its Suspend button
// suspends the job. It saves a screenshot to $WEIR_CONSOLE_SCREENSHOT when
// set (the README's, from docs/console.png).
func TestConsoleInBrowser(t *testing.T) {
	e2e(t)
	exe := chromium(t)
	r := startRunning(t)
	id := r.job.Job.ID
	g, err := r.job.Job.Graph(context.Background())
	require.NoError(t, err)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1400, 1100),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer func() {
		// Closing the browser ends its connection, which Cancel may report.
		_ = chromedp.Cancel(bctx)
		cancelBrowser()
	}()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(r.url[1]+"/#token="+token),
		chromedp.WaitVisible(`#members tbody tr.member:nth-child(3)`),
		chromedp.WaitVisible(fmt.Sprintf(`tr.job[data-job=%q]`, id)),
		chromedp.WaitVisible(fmt.Sprintf(`#dag g.vertex:nth-of-type(%d)`, len(g.Vertices))),
	))
	count := func(sel string) int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
		require.NoError(t, err)
		return n
	}
	require.Equal(t, 3, count("#members tr.member"))
	require.Equal(t, len(g.Vertices), count("#dag g.vertex"))
	for _, v := range g.Vertices {
		require.Equal(t, 1, count(fmt.Sprintf("#dag g.vertex[data-vertex=%q]", v.Name)), v.Name)
	}
	// Wait until a rate shows (two polls), then keep the picture.
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`[...document.querySelectorAll("#dag text.throughput")].some(e => !e.textContent.startsWith("0.0 "))`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "console.png")
	if p := os.Getenv("WEIR_CONSOLE_SCREENSHOT"); p != "" {
		path = p
	}
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("screenshot: %s", path)

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`#suspend`)))
	require.Eventually(t, func() bool { return r.job.Info().Status == dag.Suspended }, time.Minute, 20*time.Millisecond)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(`#job-status.suspended`)))
}
