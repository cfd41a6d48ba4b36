package encoding

import "testing"

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		accept string
		offers []string
		want   string
		ok     bool
	}{
		{"", []string{JSON, Protobuf}, JSON, true},
		{"application/x-protobuf", []string{JSON, Protobuf}, Protobuf, true},
		{"application/json;q=0.5, application/x-protobuf", []string{JSON, Protobuf}, Protobuf, true},
		{"application/*;q=0.2, application/json", []string{Protobuf, JSON}, JSON, true},
		{"*/*", []string{Protobuf, JSON}, Protobuf, true},
		{"text/html", []string{JSON}, "", false},
		{"application/json;q=0", []string{JSON}, "", false},
		{"*/*;q=0.1, application/json;q=0", []string{JSON, Protobuf}, Protobuf, true},
		{";;;,,", []string{JSON}, "", false},
		{"application/json;q=abc", []string{JSON}, "", false},
	} {
		got, ok := Negotiate(tc.accept, tc.offers...)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Negotiate(%q, %v) = %q, %v; want %q, %v", tc.accept, tc.offers, got, ok, tc.want, tc.ok)
		}
	}
	if got := NegotiateBody("application/x-protobuf", false); got != JSON {
		t.Errorf("NegotiateBody without proto = %q", got)
	}
	if got := NegotiateBody("application/protobuf", true); got != Protobuf {
		t.Errorf("NegotiateBody(application/protobuf) = %q", got)
	}
	if got := NegotiateBody("text/plain", true); got != JSON {
		t.Errorf("NegotiateBody(text/plain) = %q", got)
	}
}

func FuzzNegotiate(f *testing.F) {
	f.Add("application/json;q=0.5, */*;q=0.1")
	f.Add(";q=;;,")
	f.Fuzz(func(t *testing.T, accept string) {
		ct, ok := Negotiate(accept, JSON, Protobuf)
		if ok && ct != JSON && ct != Protobuf {
			t.Fatalf("Negotiate returned %q, not an offer", ct)
		}
		_ = NegotiateBody(accept, true)
	})
}
