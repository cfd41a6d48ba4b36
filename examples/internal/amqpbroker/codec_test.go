package amqpbroker

import (
	"reflect"
	"testing"
)

func FuzzTableDecodeEncode(f *testing.F) {
	e := &encoder{}
	e.table(Table{
		{"s", "x"}, {"i", int32(-1)}, {"l", int64(5)}, {"t", true}, {"d", 1.5}, {"f", float32(2)},
		{"D", Decimal{Scale: 1, Value: 3}}, {"T", Timestamp(7)}, {"x", []byte{1}}, {"V", nil},
		{"A", []any{"a", Table{{"k", uint16(2)}}}}, {"b", int8(-2)}, {"B", uint8(2)}, {"u", uint32(9)},
	})
	f.Add(e.b[4:])
	f.Add([]byte{1, 'k', 'F', 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tbl, err := decodeTable(data, 0)
		if err != nil {
			return
		}
		// Decoding what the broker encodes gives the same values, so
		// headers pass through unchanged even when the broker rewrites them.
		e := &encoder{}
		e.table(tbl)
		again, err := decodeTable(e.b[4:], 0)
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if !reflect.DeepEqual(tbl, again) && !hasNaN(tbl) {
			t.Fatalf("round trip changed %#v into %#v", tbl, again)
		}
	})
}

func hasNaN(v any) bool {
	switch v := v.(type) {
	case float32:
		return v != v
	case float64:
		return v != v
	case Table:
		for _, f := range v {
			if hasNaN(f.Value) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasNaN(x) {
				return true
			}
		}
	}
	return false
}

func FuzzParseProperties(f *testing.F) {
	p := properties{raw: []byte{0x80, 0, 4, 't', 'e', 'x', 't'}, hStart: 5, hEnd: 5}
	f.Add(p.raw)
	f.Add([]byte{0xff, 0xfc})
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := parseProperties(raw)
		if err != nil {
			return
		}
		// Rewriting the headers keeps every other property byte for byte.
		h := p.headers().with("x-delivery-count", int64(1))
		q, err := parseProperties(p.withHeaders(h).raw)
		if err != nil {
			t.Fatalf("rewritten properties do not parse: %v", err)
		}
		if got, _ := q.headers().Get("x-delivery-count"); got != int64(1) {
			t.Fatalf("header not set: %v", q.headers())
		}
		if string(q.raw[2:q.hStart]) != string(raw[2:p.hStart]) || string(q.raw[q.hEnd:]) != string(raw[p.hEnd:]) {
			t.Fatalf("other properties changed: %x -> %x", raw, q.raw)
		}
	})
}
