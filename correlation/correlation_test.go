package correlation

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestFromContextNeverInvents(t *testing.T) {
	id, ok := FromContext(t.Context())
	if ok || id != "" {
		t.Fatalf("FromContext on empty context = %q, %v; want \"\", false", id, ok)
	}
}

func TestEnsure(t *testing.T) {
	tests := map[string]struct {
		in   string
		keep bool
	}{
		"valid":       {in: "abc-123", keep: true},
		"empty":       {in: ""},
		"space":       {in: "a b"},
		"newline":     {in: "a\nb"},
		"non-ascii":   {in: "héllo"},
		"too long":    {in: strings.Repeat("a", MaxLength+1)},
		"max length":  {in: strings.Repeat("a", MaxLength), keep: true},
		"control del": {in: "a\x7f"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ctx, id := Ensure(t.Context(), tt.in)
			got, ok := FromContext(ctx)
			if !ok || got != id {
				t.Fatalf("context holds %q, %v; want %q", got, ok, id)
			}
			if tt.keep && id != tt.in {
				t.Fatalf("Ensure(%q) = %q; want it kept", tt.in, id)
			}
			if !tt.keep {
				u, err := uuid.Parse(id)
				if err != nil || u.Version() != 7 {
					t.Fatalf("Ensure(%q) = %q; want a new UUIDv7 (err %v)", tt.in, id, err)
				}
			}
		})
	}
}

func FuzzEnsure(f *testing.F) {
	for _, s := range []string{"", "abc", "a b", "\x00", strings.Repeat("z", 200), "ünïcode"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ctx, id := Ensure(t.Context(), in)
		if !Valid(id) {
			t.Fatalf("Ensure(%q) produced invalid id %q", in, id)
		}
		if Valid(in) && id != in {
			t.Fatalf("valid input %q replaced by %q", in, id)
		}
		if got, _ := FromContext(ctx); got != id {
			t.Fatalf("context holds %q, want %q", got, id)
		}
	})
}

// failingReader is a random source that has failed.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy source unavailable") }

// TestNewWithoutRandomSource checks New's fallback: with the random source
// failing, IDs are still fresh UUIDv7s of the current time, never one
// constant value.
func TestNewWithoutRandomSource(t *testing.T) {
	uuid.SetRand(failingReader{})
	t.Cleanup(func() { uuid.SetRand(nil) })
	if _, err := uuid.NewV7(); err == nil {
		t.Fatal("uuid.NewV7 works with a failing source; the test does not reach the fallback")
	}

	before := time.Now().UnixMilli()
	seen := map[string]bool{}
	for range 1000 {
		id := New()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 || !Valid(id) {
			t.Fatalf("New() = %q without a random source, want a UUIDv7 (err %v)", id, err)
		}
		sec, nsec := u.Time().UnixTime()
		if ms := sec*1000 + nsec/1e6; ms < before || ms > time.Now().UnixMilli() {
			t.Fatalf("%q has timestamp %d, want the current time", id, ms)
		}
		if seen[id] {
			t.Fatalf("New() returned %q twice without a random source", id)
		}
		seen[id] = true
	}
}
