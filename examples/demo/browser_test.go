package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/patron-go/patron/patrontest/testenv"
)

// docsScreenshot is the README's picture of the demo's trace, relative to
// this package; the demo test rewrites it, so it shows the demo as it is.
const docsScreenshot = "../../docs/demo-trace.png"

// checkTraceInBrowser opens the demo's trace in the viewer's UI in headless
// Chromium: every span is on the waterfall, and the seven services have
// seven colours. It then saves the page as docs/demo-trace.png.
func checkTraceInBrowser(t *testing.T, uiAddr, traceID string, spans int) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Unavailable(t, "Chromium not installed (apt-get install chromium)")
		return
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 900),
		chromedp.Flag("hide-scrollbars", true))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil { // starts Chromium, outside the deadline below
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+uiAddr+"/trace/"+traceID), chromedp.WaitVisible(chromedp.CSS(`.wf-row`))); err != nil {
		t.Fatalf("trace page: %v", err)
	}
	rows := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll(".wf-row").length`))
	if rows != spans {
		t.Errorf("the waterfall shows %d spans, want %d", rows, spans)
	}
	colors := value(t, ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll(".trace-services .chip")].map((c) => [c.textContent.replace(/ \(\d+\)$/, ""), c.querySelector(".dot").style.background]))`))
	byColor := map[string]string{}
	for svc, c := range colors {
		if other, dup := byColor[c]; dup {
			t.Errorf("%s and %s share colour %s", svc, other, c)
		}
		byColor[c] = svc
	}
	if len(colors) != 7 {
		t.Errorf("the trace shows %d services (%v), want 7", len(colors), colors)
	}
	png := value(t, ctx, chromedp.FullScreenshot(100))
	if t.Failed() {
		return // keep the last good picture
	}
	p := docsScreenshot
	if _, err := os.Stat(filepath.Dir(p)); err != nil {
		p = filepath.Join(t.TempDir(), "demo-trace.png") // not in a checkout
	}
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Errorf("saving the screenshot: %v", err)
	}
	t.Logf("screenshot: %s", p)
}

func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
