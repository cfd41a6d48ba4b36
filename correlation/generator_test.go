package correlation

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestGeneratorUUIDv7 proves the IDs are valid UUIDv7s with the current
// millisecond timestamp, and unique across many IDs and several goroutines
// (more than one random batch each).
func TestGeneratorUUIDv7(t *testing.T) {
	var g Generator
	const goroutines, per = 4, 2000
	ids := make([][]string, goroutines)
	before := time.Now().UnixMilli()
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			for range per {
				ids[i] = append(ids[i], g.New())
			}
		})
	}
	wg.Wait()
	after := time.Now().UnixMilli()
	seen := make(map[string]bool, goroutines*per)
	for _, list := range ids {
		for _, id := range list {
			u, err := uuid.Parse(id)
			if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
				t.Fatalf("%q is not a UUIDv7 (%v)", id, err)
			}
			if !Valid(id) {
				t.Fatalf("%q is not a valid correlation ID", id)
			}
			sec, nsec := u.Time().UnixTime()
			if ms := sec*1000 + nsec/1e6; ms < before || ms > after {
				t.Fatalf("%q has timestamp %d, outside [%d, %d]", id, ms, before, after)
			}
			if seen[id] {
				t.Fatalf("duplicate ID %q", id)
			}
			seen[id] = true
		}
	}
}

func TestGeneratorEnsure(t *testing.T) {
	var g Generator
	ctx, id := g.Ensure(t.Context(), "keep-me")
	if got, _ := FromContext(ctx); id != "keep-me" || got != id {
		t.Fatalf("Ensure kept %q, context %q", id, got)
	}
	ctx, id = g.Ensure(t.Context(), "bad id")
	if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
		t.Fatalf("Ensure(bad) = %q, want a UUIDv7", id)
	}
	if got, _ := FromContext(ctx); got != id {
		t.Fatalf("context holds %q, want %q", got, id)
	}
}

func FuzzGeneratorEnsure(f *testing.F) {
	var g Generator
	for _, s := range []string{"", "abc", "a b", "\x00", "ünïcode"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		_, id := g.Ensure(t.Context(), in)
		if !Valid(id) || (Valid(in) && id != in) {
			t.Fatalf("Ensure(%q) = %q", in, id)
		}
	})
}

// BenchmarkNew compares New (one crypto/rand read per ID) with a Generator.
func BenchmarkNew(b *testing.B) {
	b.Run("New", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = New()
		}
	})
	b.Run("Generator", func(b *testing.B) {
		var g Generator
		b.ReportAllocs()
		for b.Loop() {
			_ = g.New()
		}
	})
}

// TestGeneratorText checks the text written without uuid.UUID.String against
// it, across text blocks, and that IDs share their text's allocations.
func TestGeneratorText(t *testing.T) {
	var g Generator
	seen := make(map[string]bool)
	for range 3 * 32 {
		id := g.New()
		u, err := uuid.Parse(id)
		if err != nil || u.String() != id {
			t.Fatalf("ID %q does not round-trip: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("ID %q repeated", id)
		}
		seen[id] = true
	}
	if n := testing.AllocsPerRun(320, func() { _ = g.New() }); n > 0.1 {
		t.Fatalf("Generator.New allocates %.2f times per ID, want one allocation per block of IDs", n)
	}
}
