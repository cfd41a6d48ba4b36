package encoding

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/patron-go/patron/reliability"
)

func TestRoundTrip(t *testing.T) {
	for _, ct := range []string{JSON, "application/json; charset=utf-8", Protobuf, "application/protobuf"} {
		b, err := Encode(ct, wrapperspb.String("hi"))
		if err != nil {
			t.Fatalf("Encode(%s): %v", ct, err)
		}
		var got wrapperspb.StringValue
		if err := Decode(ct, b, &got); err != nil {
			t.Fatalf("Decode(%s): %v", ct, err)
		}
		if got.GetValue() != "hi" {
			t.Fatalf("%s round trip = %q", ct, got.GetValue())
		}
	}
}

func TestErrors(t *testing.T) {
	var v map[string]any
	if err := Decode(JSON, []byte("{"), &v); !errors.Is(err, ErrMalformed) || !reliability.IsPermanent(err) {
		t.Errorf("malformed JSON: %v", err)
	}
	if err := Decode("text/xml", []byte("<a/>"), &v); !errors.Is(err, ErrUnsupportedContentType) {
		t.Errorf("xml: %v", err)
	}
	if err := Decode(Protobuf, []byte{0xff}, &v); err == nil {
		t.Error("protobuf into a map succeeded")
	}
	if err := Decode(Protobuf, []byte{0xff, 0xff}, &wrapperspb.StringValue{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed protobuf: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("application/json", []byte(`{"a":1}`))
	f.Add("application/x-protobuf", []byte{0x0a, 0x02, 'h', 'i'})
	f.Add(";;;", []byte{})
	f.Fuzz(func(t *testing.T, ct string, data []byte) {
		var m map[string]any
		_ = Decode(ct, data, &m)
		_ = Decode(ct, data, &wrapperspb.StringValue{})
	})
}
