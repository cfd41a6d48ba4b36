package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/patron-go/patron/patrontest/testenv"
)

// TestPageInBrowser drives the chat page in a headless Chromium: a posted
// "/giphy cats" appears, then gets its picture through the stream, with a
// link to its trace.
func TestPageInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Unavailable(t, "Chromium not installed (apt-get install chromium)")
	}
	prefix := "tracing-talk-test-" + uuid.NewString() + ":"
	redisAddr := ""
	if probeRedis(t.Context(), testenv.RedisAddr) {
		redisAddr = testenv.RedisAddr
		defer deleteRoom(t, redisAddr, prefix, "lobby")
	}
	eps, stop := startTalk(t, redisAddr, prefix)
	defer stop()

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil { // starts Chromium, outside the deadline below
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()

	img := chromedp.CSS(`#messages img`)
	err = chromedp.Do(ctx,
		chromedp.Navigate(eps.Chat+"/"),
		waitJS(`document.getElementById("status").textContent === "live"`),
		chromedp.SendKeys(chromedp.CSS("#text"), "/giphy cats"),
		chromedp.Click(chromedp.CSS("#post button")),
		chromedp.WaitVisible(img),
		waitJS(`document.querySelector("#messages img").complete`),
		chromedp.WaitVisible(chromedp.CSS(`#messages .meta a`)))
	if err != nil {
		t.Fatalf("chat page: %v", err)
	}
	src := value(t, ctx, chromedp.AttributeValue(img, "src")).Value
	width := value(t, ctx, chromedp.Evaluate[int](`document.querySelector("#messages img").naturalWidth`))
	traceLink := value(t, ctx, chromedp.AttributeValue(chromedp.CSS(`#messages .meta a`), "href")).Value
	text := value(t, ctx, chromedp.Text(chromedp.CSS(`#messages li div:nth-child(2)`)))
	if src != eps.Images+"/img/cats.svg" || width == 0 {
		t.Errorf("picture %q, width %d; want %s/img/cats.svg, loaded", src, width, eps.Images)
	}
	if !strings.HasPrefix(traceLink, eps.Viewer+"/trace/") || len(traceLink) != len(eps.Viewer)+len("/trace/")+32 {
		t.Errorf("trace link %q, want %s/trace/<trace ID>", traceLink, eps.Viewer)
	}
	if text != "/giphy cats" {
		t.Errorf("message text %q", text)
	}
	if p := os.Getenv("TALK_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, value(t, ctx, chromedp.FullScreenshot(100)), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func waitJS(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](js)(ctx, tg)
		return chromedp.Void{}, err
	}
}

func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
