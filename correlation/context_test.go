package correlation_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patron-go/patron/correlation"
)

type otherKey struct{}

// TestContextWithIDIsTransparent: the context that carries the ID passes
// cancellation, its cause, deadlines, AfterFunc and other values through
// in both directions, and the ID is found through any child context.
func TestContextWithIDIsTransparent(t *testing.T) {
	errWhy := errors.New("shutting down")
	deadline := time.Now().Add(time.Hour)
	parent, cancelDeadline := context.WithDeadline(context.WithValue(t.Context(), otherKey{}, "v"), deadline)
	defer cancelDeadline()
	parent, cancel := context.WithCancelCause(parent)
	ctx := correlation.ContextWithID(parent, "id-1")

	if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
		t.Fatalf("Deadline() = %v, %v; want the parent's %v", d, ok, deadline)
	}
	if ctx.Value(otherKey{}) != "v" {
		t.Fatal("a parent's value is lost")
	}
	afterFunc := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { close(afterFunc) })
	defer stop()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	children := map[string]context.Context{
		"itself":        ctx,
		"WithCancel":    child,
		"WithValue":     context.WithValue(child, otherKey{}, "w"),
		"WithTimeout":   func() context.Context { c, cl := context.WithTimeout(child, time.Hour); t.Cleanup(cl); return c }(),
		"WithoutCancel": context.WithoutCancel(child),
	}
	for name, c := range children {
		if id, ok := correlation.FromContext(c); !ok || id != "id-1" {
			t.Fatalf("%s: FromContext = %q, %v", name, id, ok)
		}
	}

	cancel(errWhy)
	for _, c := range []context.Context{ctx, child} {
		select {
		case <-c.Done():
		case <-time.After(time.Second):
			t.Fatal("cancelling the parent did not reach through the ID's context")
		}
		if !errors.Is(c.Err(), context.Canceled) || !errors.Is(context.Cause(c), errWhy) {
			t.Fatalf("Err() = %v, Cause() = %v; want Canceled and %v", c.Err(), context.Cause(c), errWhy)
		}
	}
	select {
	case <-afterFunc:
	case <-time.After(time.Second):
		t.Fatal("AfterFunc on the ID's context did not run")
	}
	if children["WithoutCancel"].Err() != nil {
		t.Fatal("WithoutCancel was cancelled")
	}
}

// TestContextWithIDChildCancel: cancelling a child leaves the ID's context
// and its parent alone, and its own cause is its own.
func TestContextWithIDChildCancel(t *testing.T) {
	ctx := correlation.ContextWithID(t.Context(), "id-1")
	child, cancel := context.WithCancelCause(ctx)
	errChild := errors.New("child done")
	cancel(errChild)
	if !errors.Is(context.Cause(child), errChild) || ctx.Err() != nil || context.Cause(ctx) != nil {
		t.Fatalf("child cause %v, parent err %v, parent cause %v", context.Cause(child), ctx.Err(), context.Cause(ctx))
	}
}

// TestContextWithIDInnermostWins: a nested ID replaces the outer one for
// the contexts below it only; an empty ID reads as none.
func TestContextWithIDInnermostWins(t *testing.T) {
	outer := correlation.ContextWithID(t.Context(), "outer")
	inner := correlation.ContextWithID(context.WithValue(outer, otherKey{}, 1), "inner")
	if id, _ := correlation.FromContext(inner); id != "inner" {
		t.Fatalf("inner: %q", id)
	}
	if id, _ := correlation.FromContext(outer); id != "outer" {
		t.Fatalf("outer: %q", id)
	}
	if id, ok := correlation.FromContext(correlation.ContextWithID(outer, "")); ok || id != "" {
		t.Fatalf("empty ID: %q, %v", id, ok)
	}
}

func TestContextWithIDString(t *testing.T) {
	s := correlation.ContextWithID(context.Background(), "id-1").(interface{ String() string }).String()
	if !strings.HasPrefix(s, "context.Background") || !strings.Contains(s, `"id-1"`) {
		t.Fatalf("String() = %s", s)
	}
}

func TestContextWithIDNilParent(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a nil parent was accepted")
		}
	}()
	//nolint:staticcheck // SA1012: the nil parent is the point of the test.
	correlation.ContextWithID(nil, "id")
}

func TestContextWithIDAllocatesOnce(t *testing.T) {
	id := correlation.New()
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { ctxSink = correlation.ContextWithID(ctx, id) }); n != 1 {
		t.Fatalf("%v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { idSink, _ = correlation.FromContext(ctxSink) }); n != 0 {
		t.Fatalf("FromContext: %v allocations, want 0", n)
	}
}
