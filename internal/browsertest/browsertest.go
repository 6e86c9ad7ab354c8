// Package browsertest runs headless Chromium for the UI tests (the admin UI, the customer pages)
// through chromedp, with the flags this machine needs, and saves screenshots where the run says.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Phone and Desktop are the viewports the UI tests use.
var (
	Phone   = Viewport{390, 844}
	Desktop = Viewport{1280, 900}
)

// Viewport is a window size in CSS pixels.
type Viewport struct{ Width, Height int64 }

// ChromiumPath returns the browser to drive: $CHROMIUM_PATH, else chromium on PATH.
func ChromiumPath() string {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a headless browser tab for the test at the viewport, closed at cleanup. Without a
// browser it skips, unless MEMBERSYNC_REQUIRE_BROWSER is set (CI sets it): then it fails.
func New(t testing.TB, vp Viewport) context.Context {
	t.Helper()
	path := ChromiumPath()
	if path == "" {
		if os.Getenv("MEMBERSYNC_REQUIRE_BROWSER") != "" {
			t.Fatal("no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)")
		}
		t.Skip("no Chromium found; install it (apt-get install chromium) to run the browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(vp.Width), int(vp.Height)),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first action allocates the browser; its context must carry no timeout (chromedp's rule).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.Width, vp.Height)); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// ScreenshotDir is where screenshots go: $MEMBERSYNC_SCREENSHOTS, else a folder under the system
// temp dir that outlives the test. The first call logs it.
func ScreenshotDir(t testing.TB) string {
	dir := os.Getenv("MEMBERSYNC_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "membersync-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Screenshot saves a full-page PNG named after the test and name, and logs its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	// Quality 100 makes a PNG; below it chromedp encodes a JPEG.
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	file := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()+"-"+name) + ".png"
	path := filepath.Join(ScreenshotDir(t), file)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}
